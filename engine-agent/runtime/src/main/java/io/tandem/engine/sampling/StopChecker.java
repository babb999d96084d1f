package io.tandem.engine.sampling;

import java.util.List;
import java.util.Objects;

/**
 * Finds stop strings in streamed output text and decides how much of it may be sent to the client yet.
 *
 * <p>The engine feeds each newly detokenized piece to {@link #feed(String)}. Text is emitted as soon as it can
 * no longer be part of a stop string: the longest suffix that is a proper prefix of some stop string is held
 * back (so {@code "Hello\n"} with stop {@code "\n\n"} emits {@code "Hello"} and holds {@code "\n"}), and nothing
 * else is. When a stop string completes, the result carries the text up to (excluding) it, as the OpenAI API
 * specifies, plus the matched string for vLLM's {@code stop_reason}; the checker is then finished. When
 * generation ends for another reason, {@link #finish()} releases the held-back text.
 *
 * <p>Held-back text is always shorter than the longest stop string, and a match can only start inside it or in
 * the new piece (anything earlier was emitted because it could not start one), so each call is
 * O((held + piece) * stops * longest stop) and does not depend on the output length.
 *
 * <p>When several stop strings complete within one piece, the one that ends first wins, and among those the
 * one that starts first: exactly the stop that text arriving character by character would hit, so the result
 * does not depend on how the detokenizer chunks the text. Stops match on UTF-16 text exactly (no
 * normalization).
 *
 * <p>Not thread-safe: one per request.
 */
public final class StopChecker {
    private final String[] stops;
    private final int longestStop;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    /**
     * What {@link #feed(String)} decided.
     *
     * @param text        text safe to send now; never null, often empty
     * @param matchedStop the stop string that ended generation (vLLM's {@code stop_reason}), or null while
     *                    generation goes on
     */
    public record Result(String text, String matchedStop) {
        /** True when a stop string matched: send {@link #text()}, then finish with {@link FinishReason#STOP}. */
        public boolean stopped() {
            return matchedStop != null;
        }
    }

    /**
     * @param stops stop strings, non-empty (as {@link SamplingParams#stop()} guarantees); may be empty, in which
     *              case every piece passes straight through
     */
    public StopChecker(List<String> stops) {
        Objects.requireNonNull(stops, "stops");
        this.stops = stops.toArray(String[]::new);
        int longest = 0;
        for (int i = 0; i < this.stops.length; i++) {
            String s = this.stops[i];
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException(
                        "stops[" + i + "]: " + (s == null ? "null" : "empty") + " (expected: non-empty strings)");
            }
            longest = Math.max(longest, s.length());
        }
        this.longestStop = longest;
    }

    /**
     * Takes the next piece of output text.
     *
     * @throws IllegalStateException after a stop string matched or {@link #finish()} was called
     */
    public Result feed(String piece) {
        Objects.requireNonNull(piece, "piece");
        if (stopped) {
            throw new IllegalStateException("stop checker is finished (a stop string matched or finish() was called); no more text may be fed");
        }
        if (stops.length == 0) {
            return new Result(piece, null);
        }
        held.append(piece);

        int bestStart = -1;
        int bestEnd = Integer.MAX_VALUE;
        String best = null;
        for (String stop : stops) {
            int start = held.indexOf(stop); // the earliest start is also this stop's earliest end
            if (start >= 0) {
                int end = start + stop.length();
                if (end < bestEnd || (end == bestEnd && start < bestStart)) {
                    bestStart = start;
                    bestEnd = end;
                    best = stop;
                }
            }
        }
        if (best != null) {
            stopped = true;
            String text = held.substring(0, bestStart);
            held.setLength(0);
            return new Result(text, best);
        }

        int keep = heldBackLength();
        String text = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return new Result(text, null);
    }

    /** Length of the longest suffix of {@link #held} that is a proper prefix of some stop string. */
    private int heldBackLength() {
        int n = held.length();
        for (int len = Math.min(n, longestStop - 1); len > 0; len--) {
            for (String stop : stops) {
                if (stop.length() > len && regionEquals(n - len, stop, len)) {
                    return len;
                }
            }
        }
        return 0;
    }

    private boolean regionEquals(int from, String stop, int len) {
        for (int i = 0; i < len; i++) {
            if (held.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Ends the stream for a reason other than a stop string: returns the held-back text (empty after a match)
     * and finishes the checker.
     */
    public String finish() {
        String rest = held.toString();
        held.setLength(0);
        stopped = true;
        return rest;
    }

    /** True after a stop string matched or {@link #finish()} was called. */
    public boolean isFinished() {
        return stopped;
    }
}
