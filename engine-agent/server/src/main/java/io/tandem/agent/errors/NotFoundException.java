package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** An unknown route or session (404). */
public class NotFoundException extends ApiException {
    public NotFoundException(String message, String param) {
        super(message, param);
    }

    public NotFoundException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.NOT_FOUND;
    }

    @Override
    public String type() {
        return "not_found_error";
    }

    @Override
    public String code() {
        return "not_found";
    }
}
