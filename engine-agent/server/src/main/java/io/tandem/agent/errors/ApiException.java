package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/**
 * Base of the agent's own typed failures. Each subclass has one status and one handler; the fields are what the
 * error body carries.
 */
public abstract class ApiException extends RuntimeException {
    private final String param;

    protected ApiException(String message, String param) {
        super(message);
        this.param = param;
    }

    /** The request parameter at fault, or null. */
    public String param() {
        return param;
    }

    public abstract HttpStatus status();

    public abstract String type();

    public abstract String code();
}
