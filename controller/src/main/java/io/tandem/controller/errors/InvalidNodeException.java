package io.tandem.controller.errors;

/** A node description is malformed (url, role, models). HTTP 400, gRPC INVALID_ARGUMENT. */
public class InvalidNodeException extends ControllerException {
    public InvalidNodeException(String message) {
        super(message);
    }

    public InvalidNodeException(String message, Throwable cause) {
        super(message, cause);
    }
}
