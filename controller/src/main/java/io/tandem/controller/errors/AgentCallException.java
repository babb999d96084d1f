package io.tandem.controller.errors;

/** An agent answered an HTTP call with a non-2xx status, or the call failed or timed out. HTTP 502 (504 on timeout). */
public class AgentCallException extends ControllerException {
    private final int httpStatus;
    private final boolean timeout;

    public AgentCallException(String message) {
        this(message, -1, false, null);
    }

    public AgentCallException(String message, Throwable cause) {
        this(message, -1, false, cause);
    }

    public AgentCallException(String message, int httpStatus, boolean timeout, Throwable cause) {
        super(message, cause);
        this.httpStatus = httpStatus;
        this.timeout = timeout;
    }

    /** The agent's HTTP status, or -1 when no answer came. */
    public int httpStatus() {
        return httpStatus;
    }

    /** Whether the call timed out. */
    public boolean isTimeout() {
        return timeout;
    }
}
