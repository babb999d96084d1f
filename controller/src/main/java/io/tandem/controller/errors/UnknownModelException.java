package io.tandem.controller.errors;

/** No node in the pool serves the requested model. HTTP 404, gRPC NOT_FOUND. */
public class UnknownModelException extends ControllerException {
    public UnknownModelException(String message) {
        super(message);
    }

    public UnknownModelException(String message, Throwable cause) {
        super(message, cause);
    }
}
