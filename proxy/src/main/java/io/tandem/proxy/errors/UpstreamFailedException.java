package io.tandem.proxy.errors;

/**
 * A node broke the request before its first byte reached the client (connection refused or reset, 5xx, a body that
 * ended early) and no other node could take it. HTTP 502.
 */
public class UpstreamFailedException extends RuntimeException {
    public UpstreamFailedException(String message, Throwable cause) {
        super(message, cause);
    }

    public UpstreamFailedException(String message) {
        super(message);
    }
}
