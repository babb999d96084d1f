package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** A parameter has a value the API does not accept (400), naming the parameter. */
public final class BadParameterException extends ApiException {
    public BadParameterException(String message, String param) {
        super(message, param);
    }

    public BadParameterException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.BAD_REQUEST;
    }

    @Override
    public String type() {
        return "invalid_request_error";
    }

    @Override
    public String code() {
        return "invalid_parameter";
    }
}
