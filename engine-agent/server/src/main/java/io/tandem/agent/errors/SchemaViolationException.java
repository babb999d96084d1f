package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** The body is not valid JSON of the request's schema: a missing field or a wrong type (422, as FastAPI answers). */
public final class SchemaViolationException extends ApiException {
    public SchemaViolationException(String message, String param) {
        super(message, param);
    }

    public SchemaViolationException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.UNPROCESSABLE_ENTITY;
    }

    @Override
    public String type() {
        return "invalid_request_error";
    }

    @Override
    public String code() {
        return "schema_violation";
    }
}
