package io.tandem.controller.errors;

/** The node exists with a different role than the one being registered. HTTP 409, gRPC FAILED_PRECONDITION. */
public class NodeConflictException extends ControllerException {
    public NodeConflictException(String message) {
        super(message);
    }

    public NodeConflictException(String message, Throwable cause) {
        super(message, cause);
    }
}
