package io.tandem.controller.errors;

/** The controller was closed. HTTP 503, gRPC UNAVAILABLE. */
public class ControllerClosedException extends ControllerException {
    public ControllerClosedException(String message) {
        super(message);
    }

    public ControllerClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
