package io.tandem.controller.errors;

import java.util.Optional;

/**
 * A prefill/decode pair could not be connected, or is waiting out its retry backoff after a failed attempt.
 * HTTP 502, gRPC UNAVAILABLE. {@link #failedNode()} names the side whose call failed, when known, so that a caller
 * retrying with another pair can leave that node out.
 */
public class PairingFailedException extends ControllerException {
    private final String failedNode;

    public PairingFailedException(String message) {
        this(message, null, null);
    }

    public PairingFailedException(String message, Throwable cause) {
        this(message, null, cause);
    }

    public PairingFailedException(String message, String failedNode, Throwable cause) {
        super(message, cause);
        this.failedNode = failedNode;
    }

    public Optional<String> failedNode() {
        return Optional.ofNullable(failedNode);
    }
}
