package io.tandem.controller.errors;

/** The url names no node in the pool. HTTP 404, gRPC NOT_FOUND. */
public class NodeNotFoundException extends ControllerException {
    public NodeNotFoundException(String message) {
        super(message);
    }

    public NodeNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
