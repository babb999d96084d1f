package io.tandem.kv.errors;

/**
 * The peer engine cannot be reached: it is not connected, its UCX endpoint failed (the process died, the
 * network dropped), or the control channel stopped hearing from it.
 */
public final class PeerUnavailableException extends KvTransferException {

    private final String peerId;

    public PeerUnavailableException(String peerId, String message) {
        super("peer " + peerId + ": " + message);
        this.peerId = peerId;
    }

    public String peerId() {
        return peerId;
    }
}
