package io.tandem.proxy.errors;

/** A node did not answer within {@code tandem.proxy.upstream-timeout}. HTTP 504. */
public class UpstreamTimeoutException extends RuntimeException {
    public UpstreamTimeoutException(String message, Throwable cause) {
        super(message, cause);
    }
}
