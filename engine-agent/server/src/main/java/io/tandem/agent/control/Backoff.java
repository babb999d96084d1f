package io.tandem.agent.control;

import java.time.Duration;
import java.util.Random;

/**
 * Reconnect delays as cluster_control.proto asks: 100 ms doubling to 10 s, each drawn uniformly from the upper half
 * of the current step (jitter, so that agents cut off together do not all come back together). Not thread-safe:
 * owned by the link's thread.
 */
final class Backoff {
    static final Duration INITIAL = Duration.ofMillis(100);
    static final Duration MAX = Duration.ofSeconds(10);

    private final Random random;
    private long stepMs = INITIAL.toMillis();

    Backoff(Random random) {
        this.random = random;
    }

    /** The next delay; the step after it doubles up to {@link #MAX}. */
    Duration next() {
        long step = stepMs;
        stepMs = Math.min(stepMs * 2, MAX.toMillis());
        return Duration.ofMillis(step / 2 + random.nextLong(step / 2 + 1));
    }

    /** After a successful registration the next failure starts again at {@link #INITIAL}. */
    void reset() {
        stepMs = INITIAL.toMillis();
    }
}
