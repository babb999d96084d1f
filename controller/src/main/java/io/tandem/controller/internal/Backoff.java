package io.tandem.controller.internal;

import java.time.Duration;

/**
 * Exponential backoff: {@code initial * 2^(attempt-1)}, capped at {@code max}. Deterministic (no jitter) so that
 * tests can state exact deadlines; callers that fan out add their own jitter.
 */
public record Backoff(Duration initial, Duration max) {
    public Backoff {
        if (initial.isNegative() || initial.isZero()) {
            throw new IllegalArgumentException("initial: " + initial + " (expected: > 0)");
        }
        if (max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("max: " + max + " (expected: >= initial " + initial + ")");
        }
    }

    /** The delay before retry number {@code attempt} (1 = the first retry). */
    public Duration delay(int attempt) {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempt: " + attempt + " (expected: >= 1)");
        }
        int shift = Math.min(attempt - 1, 30);
        long ms = initial.toMillis() << shift;
        return ms <= 0 || ms > max.toMillis() ? max : Duration.ofMillis(ms);
    }
}
