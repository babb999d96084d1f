package io.tandem.kv.errors;

/** An {@code endpoint_info} string (or a peer's zmq address) that cannot be parsed or fails validation. */
public final class InvalidEndpointInfoException extends KvTransferException {

    public InvalidEndpointInfoException(String message) {
        super(message);
    }

    public InvalidEndpointInfoException(String message, Throwable cause) {
        super(message, cause);
    }
}
