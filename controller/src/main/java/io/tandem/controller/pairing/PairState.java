package io.tandem.controller.pairing;

/** Where a pair's connection stands. */
public enum PairState {
    /** The handshake is running; callers share its future. */
    CONNECTING,
    /** Both engines know each other; migrations may flow. */
    CONNECTED,
    /** The last handshake failed; a new one starts at the first use after {@link PairInfo#retryAt()}. */
    FAILED
}
