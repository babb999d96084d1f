package io.tandem.controller.health;

import java.time.Duration;

import io.tandem.controller.internal.Backoff;

/**
 * When a {@link CircuitBreaker} opens and for how long.
 *
 * @param failureThreshold failures within {@code failureWindow} that open a closed circuit
 * @param failureWindow    how far back failures count
 * @param openBackoff      open period: initial, doubled each time the circuit reopens while the node flaps, capped
 * @param stableAfter      a circuit closed this long without opening forgets its past (the backoff starts over)
 */
public record CircuitBreakerConfig(int failureThreshold, Duration failureWindow, Backoff openBackoff, Duration stableAfter) {
    public static final CircuitBreakerConfig DEFAULT = new CircuitBreakerConfig(
            3, Duration.ofSeconds(30), new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(60)), Duration.ofSeconds(60));

    public CircuitBreakerConfig {
        if (failureThreshold < 1) {
            throw new IllegalArgumentException("failureThreshold: " + failureThreshold + " (expected: >= 1)");
        }
        if (failureWindow.isNegative() || failureWindow.isZero()) {
            throw new IllegalArgumentException("failureWindow: " + failureWindow + " (expected: > 0)");
        }
        if (stableAfter.isNegative()) {
            throw new IllegalArgumentException("stableAfter: " + stableAfter + " (expected: >= 0)");
        }
    }
}
