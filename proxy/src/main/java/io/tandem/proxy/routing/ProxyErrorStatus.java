package io.tandem.proxy.routing;

import io.tandem.proxy.errors.ErrorReply;

/** The status a failure is answered with ({@link ErrorReply#of}), for the error counter. */
final class ProxyErrorStatus {
    private ProxyErrorStatus() {}

    static int of(Throwable e) {
        return ErrorReply.of(e).status();
    }
}
