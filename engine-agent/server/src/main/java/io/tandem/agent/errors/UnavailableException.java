package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;

/** The agent cannot take generation requests now: shutting down or asleep (503). */
public final class UnavailableException extends ApiException {
    public UnavailableException(String message, String param) {
        super(message, param);
    }

    public UnavailableException(String message) {
        super(message, null);
    }

    @Override
    public HttpStatus status() {
        return HttpStatus.SERVICE_UNAVAILABLE;
    }

    @Override
    public String type() {
        return "service_unavailable";
    }

    @Override
    public String code() {
        return "unavailable";
    }
}
