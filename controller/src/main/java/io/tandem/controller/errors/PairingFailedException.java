package io.tandem.controller.errors;

/** A prefill/decode pair could not be connected (or is in its retry backoff). HTTP 502, gRPC UNAVAILABLE. */
public class PairingFailedException extends ControllerException {
    public PairingFailedException(String message) {
        super(message);
    }

    public PairingFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
