package io.tandem.proxy.errors;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

import io.micronaut.http.exceptions.BufferLengthExceededException;
import io.micronaut.http.exceptions.ContentLengthExceededException;
import io.tandem.controller.errors.AgentCallException;
import io.tandem.controller.errors.CommandFailedException;
import io.tandem.controller.errors.ControllerClosedException;
import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.errors.UnknownModelException;

/**
 * An error answer before it becomes HTTP: status, OpenAI's {@code type} and {@code code}, the message, and the
 * seconds for {@code Retry-After} (0 = none). {@link #of(Throwable)} is the one table from failure to answer; the
 * Micronaut {@link ErrorHandlers}, the Netty fast path and the error counters all read it (table in
 * proxy/README.md).
 */
public record ErrorReply(int status, String type, String code, String message, long retryAfterSeconds) {
    public ErrorReply(int status, String type, String code, String message) {
        this(status, type, code, message, 0);
    }

    /** The answer to {@code error} (unwrapped from completion wrappers); 500 for anything unexpected. */
    public static ErrorReply of(Throwable error) {
        Throwable e = unwrap(error);
        String m = e.getMessage();
        return switch (e) {
            case BadRequestException x -> new ErrorReply(400, "invalid_request_error", "invalid_request", m);
            case ContentLengthExceededException x -> new ErrorReply(413, "invalid_request_error", "request_too_large", m);
            case BufferLengthExceededException x -> new ErrorReply(413, "invalid_request_error", "request_too_large", m);
            case InvalidNodeException x -> new ErrorReply(400, "invalid_request_error", "invalid_node", m);
            case UnknownModelException x -> new ErrorReply(404, "not_found_error", "model_not_found", m);
            case NodeNotFoundException x -> new ErrorReply(404, "not_found_error", "node_not_found", m);
            case NodeConflictException x -> new ErrorReply(409, "invalid_request_error", "node_conflict", m);
            case NoHealthyNodeException x -> new ErrorReply(503, "service_unavailable", "no_healthy_node", m);
            case NodeUnavailableException x -> new ErrorReply(503, "service_unavailable", "node_unavailable", m);
            case ControllerClosedException x -> new ErrorReply(503, "service_unavailable", "shutting_down", m);
            case PairingFailedException x -> new ErrorReply(502, "upstream_error", "pairing_failed", m);
            case AgentCallException x -> x.isTimeout()
                    ? new ErrorReply(504, "upstream_error", "upstream_timeout", m)
                    : new ErrorReply(502, "upstream_error", "upstream_failed", m);
            case CommandFailedException x -> new ErrorReply(502, "upstream_error", "command_failed", m);
            case UpstreamFailedException x -> new ErrorReply(502, "upstream_error", "upstream_failed", m);
            case UpstreamTimeoutException x -> new ErrorReply(504, "upstream_error", "upstream_timeout", m);
            default -> new ErrorReply(500, "server_error", "internal_error", "internal error: " + e);
        };
    }

    /** The cause behind {@link CompletionException} and {@link ExecutionException} wrappers. */
    public static Throwable unwrap(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }
}
