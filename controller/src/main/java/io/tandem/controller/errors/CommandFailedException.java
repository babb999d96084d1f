package io.tandem.controller.errors;

/** An agent answered a control-stream command with ok=false, or did not answer in time. HTTP 502. */
public class CommandFailedException extends ControllerException {
    public CommandFailedException(String message) {
        super(message);
    }

    public CommandFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
