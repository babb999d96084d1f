package io.tandem.proxy.routing;

import java.util.Arrays;

/**
 * Passes a server-sent-event stream through in whole events: a chunk is forwarded up to its last event boundary
 * (a blank line) and the tail waits for the next chunk. So that when a node dies mid-stream the error event the
 * proxy appends never lands in the middle of a half-written {@code data:} line, which the client could not parse.
 * Holds at most one partial event; not a buffer of the stream. Used by {@link StreamRelay}; one per stream, not
 * thread-safe.
 */
final class SseFraming {
    static final byte[] DONE = "data: [DONE]\n\n".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    private static final byte[] EMPTY = new byte[0];

    private byte[] carry = EMPTY;

    SseFraming() {}

    /** Returns the complete events of carry + chunk; keeps the rest. */
    byte[] feed(byte[] chunk) {
        byte[] all;
        if (carry.length == 0) {
            all = chunk;
        } else {
            all = Arrays.copyOf(carry, carry.length + chunk.length);
            System.arraycopy(chunk, 0, all, carry.length, chunk.length);
        }
        int end = lastBoundary(all);
        if (end == all.length) {
            carry = EMPTY;
            return all;
        }
        carry = Arrays.copyOfRange(all, end, all.length);
        return end == 0 ? EMPTY : Arrays.copyOf(all, end);
    }

    /** The partial event held back (empty if none), at the stream's end. */
    byte[] rest() {
        return carry;
    }

    /** Index just past the last blank line ("\n\n" or "\r\n\r\n"), 0 if none. */
    static int lastBoundary(byte[] b) {
        for (int i = b.length - 1; i >= 1; i--) {
            if (b[i] == '\n' && (b[i - 1] == '\n' || (b[i - 1] == '\r' && i >= 3 && b[i - 2] == '\n'))) {
                return i + 1;
            }
        }
        return 0;
    }
}
