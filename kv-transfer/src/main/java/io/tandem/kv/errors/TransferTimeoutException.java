package io.tandem.kv.errors;

import java.time.Duration;

/** A migration did not finish within its timeout; its endpoint was torn down so no late bytes land. */
public final class TransferTimeoutException extends KvTransferException {

    public TransferTimeoutException(String peerId, Duration timeout, int pendingReads) {
        super("read from peer " + peerId + " timed out after " + timeout.toMillis() + " ms with "
                + pendingReads + " read(s) pending");
    }
}
