package io.tandem.controller.errors;

/** The node is in the pool but cannot take this call now (no control stream for a command, stream closed). HTTP 503, gRPC UNAVAILABLE. */
public class NodeUnavailableException extends ControllerException {
    public NodeUnavailableException(String message) {
        super(message);
    }

    public NodeUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
