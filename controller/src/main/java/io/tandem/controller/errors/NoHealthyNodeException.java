package io.tandem.controller.errors;

/** Nodes serve the model but none is routable now (unhealthy, circuit open, draining or excluded). HTTP 503, gRPC UNAVAILABLE. */
public class NoHealthyNodeException extends ControllerException {
    public NoHealthyNodeException(String message) {
        super(message);
    }

    public NoHealthyNodeException(String message, Throwable cause) {
        super(message, cause);
    }
}
