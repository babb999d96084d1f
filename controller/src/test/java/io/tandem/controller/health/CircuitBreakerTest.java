package io.tandem.controller.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;

import org.junit.jupiter.api.Test;

import io.tandem.controller.internal.Backoff;
import io.tandem.controller.testing.FakeClock;

class CircuitBreakerTest {
    private final FakeClock clock = new FakeClock();
    private final CircuitBreaker breaker = new CircuitBreaker(new CircuitBreakerConfig(
            3, Duration.ofSeconds(30), new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(16)), Duration.ofSeconds(60)),
            clock);

    @Test
    void opensAfterThresholdFailuresWithinWindow() {
        breaker.onFailure();
        breaker.onFailure();
        assertThat(breaker.state()).isEqualTo(CircuitState.CLOSED);
        breaker.onFailure();
        assertThat(breaker.state()).isEqualTo(CircuitState.OPEN);
        assertThat(breaker.allowsTraffic()).isFalse();
        assertThat(breaker.openUntil()).isEqualTo(clock.instant().plusSeconds(2));
    }

    @Test
    void failuresOutsideWindow_doNotOpen() {
        breaker.onFailure();
        breaker.onFailure();
        clock.advance(Duration.ofSeconds(31));
        breaker.onFailure();
        assertThat(breaker.state()).isEqualTo(CircuitState.CLOSED);
    }

    @Test
    void openPeriodEnds_halfOpen_successCloses() {
        open();
        clock.advance(Duration.ofMillis(1999));
        assertThat(breaker.state()).isEqualTo(CircuitState.OPEN);
        clock.advance(Duration.ofMillis(1));
        assertThat(breaker.state()).isEqualTo(CircuitState.HALF_OPEN);
        assertThat(breaker.allowsTraffic()).isTrue();
        breaker.onSuccess();
        assertThat(breaker.state()).isEqualTo(CircuitState.CLOSED);
    }

    @Test
    void flappingNode_staysOutLongerEachTime() {
        open();
        clock.advance(Duration.ofSeconds(2));
        breaker.onFailure(); // half-open trial fails
        assertThat(breaker.openUntil()).isEqualTo(clock.instant().plusSeconds(4));
        clock.advance(Duration.ofSeconds(4));
        breaker.onSuccess(); // closes
        clock.advance(Duration.ofSeconds(1));
        open(); // flaps again soon after: third opening
        assertThat(breaker.openUntil()).isEqualTo(clock.instant().plusSeconds(8));
        assertThat(breaker.openings()).isEqualTo(3);
    }

    @Test
    void backoffIsCapped() {
        open();
        for (int i = 0; i < 10; i++) {
            clock.advance(Duration.ofSeconds(16));
            breaker.onFailure();
        }
        assertThat(breaker.openUntil()).isEqualTo(clock.instant().plusSeconds(16));
    }

    @Test
    void stableNode_forgetsItsPast() {
        open();
        clock.advance(Duration.ofSeconds(2));
        breaker.onSuccess();
        clock.advance(Duration.ofSeconds(61));
        breaker.onSuccess();
        open();
        assertThat(breaker.openings()).isEqualTo(1);
        assertThat(breaker.openUntil()).isEqualTo(clock.instant().plusSeconds(2));
    }

    private void open() {
        breaker.onFailure();
        breaker.onFailure();
        breaker.onFailure();
        assertThat(breaker.state()).isEqualTo(CircuitState.OPEN);
    }
}
