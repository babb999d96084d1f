package io.tandem.kv.errors;

/** Base of every failure that kv-transfer reports. Unchecked: callers map each subtype to one outcome. */
public class KvTransferException extends RuntimeException {

    public KvTransferException(String message) {
        super(message);
    }

    public KvTransferException(String message, Throwable cause) {
        super(message, cause);
    }
}
