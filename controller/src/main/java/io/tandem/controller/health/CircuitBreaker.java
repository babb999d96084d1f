package io.tandem.controller.health;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A per-node circuit breaker that keeps a flapping node out of rotation.
 *
 * <p>CLOSED: failures are counted in a sliding window; {@code failureThreshold} of them open the circuit.
 * OPEN: the node is not routable until the open period ends; then the breaker is HALF_OPEN (computed lazily from the
 * clock, so no timer is needed): the node may be tried, a success closes the circuit, a failure reopens it with the
 * next, doubled, open period. The doubling continues while the node keeps reopening within {@code stableAfter} of
 * its last close, so a node that is up for a second and down again stays out longer each time; a node that stays
 * healthy for {@code stableAfter} starts over at the initial period.
 *
 * <p>Health (reachable or not) is tracked separately by the registry and acts at once; the breaker only adds memory.
 *
 * <p>Not thread-safe: owned by the controller's event thread.
 */
public final class CircuitBreaker {
    private final CircuitBreakerConfig config;
    private final Clock clock;
    private final Deque<Instant> failures = new ArrayDeque<>();
    private CircuitState state = CircuitState.CLOSED;
    private Instant openUntil = Instant.MIN;
    private Instant closedAt = Instant.MIN;
    /** Times opened since the circuit was last stable; picks the open period. */
    private int openings;

    public CircuitBreaker(CircuitBreakerConfig config, Clock clock) {
        this.config = config;
        this.clock = clock;
    }

    /** The state now; OPEN turns into HALF_OPEN once its period has passed. */
    public CircuitState state() {
        if (state == CircuitState.OPEN && !clock.instant().isBefore(openUntil)) {
            state = CircuitState.HALF_OPEN;
        }
        return state;
    }

    /** Whether the node may receive traffic now (CLOSED or HALF_OPEN). */
    public boolean allowsTraffic() {
        return state() != CircuitState.OPEN;
    }

    /** End of the current open period ({@link Instant#MIN} when not open). */
    public Instant openUntil() {
        return state() == CircuitState.OPEN ? openUntil : Instant.MIN;
    }

    /** Times the circuit opened since it was last stable. */
    public int openings() {
        return openings;
    }

    public void onSuccess() {
        Instant now = clock.instant();
        switch (state()) {
            case HALF_OPEN -> {
                state = CircuitState.CLOSED;
                closedAt = now;
                failures.clear();
            }
            case CLOSED -> {
                if (openings > 0 && !closedAt.equals(Instant.MIN)
                        && Duration.between(closedAt, now).compareTo(config.stableAfter()) >= 0) {
                    openings = 0;
                }
            }
            case OPEN -> { } // a late success of a call started before the circuit opened proves little
        }
    }

    public void onFailure() {
        Instant now = clock.instant();
        switch (state()) {
            case HALF_OPEN -> open(now);
            case CLOSED -> {
                failures.addLast(now);
                Instant horizon = now.minus(config.failureWindow());
                while (!failures.isEmpty() && failures.peekFirst().isBefore(horizon)) {
                    failures.removeFirst();
                }
                if (failures.size() >= config.failureThreshold()) {
                    if (openings > 0 && Duration.between(closedAt, now).compareTo(config.stableAfter()) >= 0) {
                        openings = 0;
                    }
                    open(now);
                }
            }
            case OPEN -> { }
        }
    }

    private void open(Instant now) {
        openings++;
        state = CircuitState.OPEN;
        openUntil = now.plus(config.openBackoff().delay(openings));
        failures.clear();
    }
}
