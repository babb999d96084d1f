package io.tandem.proxy.errors;

/** The client's request is malformed (not JSON, no model, wrong types). HTTP 400. */
public class BadRequestException extends RuntimeException {
    public BadRequestException(String message) {
        super(message);
    }
}
