package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** No or a wrong bearer key (401). */
public final class UnauthorizedException extends ApiException {
    public UnauthorizedException(String message, String param) {
        super(message, param);
    }

    public UnauthorizedException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.UNAUTHORIZED;
    }

    @Override
    public String type() {
        return "authentication_error";
    }

    @Override
    public String code() {
        return "invalid_api_key";
    }
}
