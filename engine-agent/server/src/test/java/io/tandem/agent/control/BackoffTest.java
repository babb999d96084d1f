package io.tandem.agent.control;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BackoffTest {
    @Test
    void delays_doubleWithJitter_upToTenSeconds_andResetAfterSuccess() {
        Backoff b = new Backoff(new Random(7));
        long step = 100;
        for (int i = 0; i < 12; i++) {
            Duration d = b.next();
            assertThat(d.toMillis()).isBetween(step / 2, step);
            step = Math.min(step * 2, 10_000);
        }
        assertThat(b.next().toMillis()).isBetween(5_000L, 10_000L);
        b.reset();
        assertThat(b.next().toMillis()).isBetween(50L, 100L);
    }
}
