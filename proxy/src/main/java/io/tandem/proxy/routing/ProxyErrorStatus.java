package io.tandem.proxy.routing;

import io.tandem.controller.errors.AgentCallException;
import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.proxy.errors.BadRequestException;
import io.tandem.proxy.errors.UpstreamFailedException;
import io.tandem.proxy.errors.UpstreamTimeoutException;

/** The status a failure is answered with (as the ExceptionHandlers map it), for the error counter. */
final class ProxyErrorStatus {
    private ProxyErrorStatus() {}

    static int of(Throwable e) {
        Throwable c = Router.unwrap(e);
        return switch (c) {
            case BadRequestException x -> 400;
            case UnknownModelException x -> 404;
            case NoHealthyNodeException x -> 503;
            case UpstreamTimeoutException x -> 504;
            case AgentCallException x -> x.isTimeout() ? 504 : 502;
            case UpstreamFailedException x -> 502;
            case PairingFailedException x -> 502;
            default -> 500;
        };
    }
}
