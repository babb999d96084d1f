package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** The request names a model this agent does not serve (404). */
public final class ModelNotFoundException extends ApiException {
    public ModelNotFoundException(String message, String param) {
        super(message, param);
    }

    public ModelNotFoundException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.NOT_FOUND;
    }

    @Override
    public String type() {
        return "invalid_request_error";
    }

    @Override
    public String code() {
        return "model_not_found";
    }
}
