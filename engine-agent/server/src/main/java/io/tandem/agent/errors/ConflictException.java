package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** The request is valid but conflicts with the agent's state or role (409), e.g. a session already held. */
public final class ConflictException extends ApiException {
    public ConflictException(String message, String param) {
        super(message, param);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.CONFLICT;
    }

    @Override
    public String type() {
        return "invalid_request_error";
    }

    @Override
    public String code() {
        return "conflict";
    }
}
