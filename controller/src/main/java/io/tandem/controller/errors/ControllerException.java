package io.tandem.controller.errors;

/**
 * Base of the controller's typed failures. The proxy maps each subtype to one HTTP status (given in each class's
 * Javadoc) and an OpenAI-style body; the gRPC service maps them to {@code Status} codes.
 */
public abstract class ControllerException extends RuntimeException {
    protected ControllerException(String message) {
        super(message);
    }

    protected ControllerException(String message, Throwable cause) {
        super(message, cause);
    }
}
