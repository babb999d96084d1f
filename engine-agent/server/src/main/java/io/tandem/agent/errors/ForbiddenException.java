package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** An operation this agent is configured not to allow (403), such as /terminate without an admin key. */
public final class ForbiddenException extends ApiException {
    public ForbiddenException(String message, String param) {
        super(message, param);
    }

    public ForbiddenException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.FORBIDDEN;
    }

    @Override
    public String type() {
        return "permission_error";
    }

    @Override
    public String code() {
        return "forbidden";
    }
}
