package io.tandem.controller.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.Test;

class RequestCountersTest {
    @Test
    void latencyWindow_keepsTheLast15_oldestFirst() {
        RequestCounters c = new RequestCounters();
        assertThat(c.latencies()).isEmpty();
        assertThat(c.meanLatencySeconds()).isZero();
        for (int i = 1; i <= 17; i++) {
            c.started();
            c.succeeded(i, 1000 + i);
        }
        List<Double> expected = new ArrayList<>();
        for (int i = 3; i <= 17; i++) {
            expected.add((double) i);
        }
        assertThat(c.latencies()).containsExactlyElementsOf(expected);
        assertThat(c.meanLatencySeconds()).isEqualTo(10.0);
        assertThat(c.lastSuccessMillis()).isEqualTo(1017);
        assertThat(c.unfinished()).isZero();
    }

    @Test
    void unfinished_neverGoesBelowZero() {
        RequestCounters c = RequestCounters.of(1, List.of(0.5));
        c.settled();
        c.settled(); // a settle for a request counted on the node's previous life in the pool
        assertThat(c.unfinished()).isZero();
        assertThat(c.latencies()).containsExactly(0.5);
        assertThat(c.lastSuccessMillis()).isEqualTo(Long.MIN_VALUE);
        assertThatThrownBy(() -> RequestCounters.of(-1, List.of())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void concurrentStartsAndSettles_balance() throws InterruptedException {
        RequestCounters c = new RequestCounters();
        int threads = 4;
        int perThread = 50_000;
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> all = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            all.add(Thread.ofPlatform().start(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < perThread; i++) {
                    c.started();
                    if (id % 2 == 0) {
                        c.succeeded(0.001, i);
                    } else {
                        c.settled();
                    }
                }
            }));
        }
        go.countDown();
        for (Thread t : all) {
            t.join();
        }
        assertThat(c.unfinished()).isZero();
        assertThat(c.latencies()).hasSize(NodeStatus.LATENCY_WINDOW).allMatch(v -> v == 0.001);
    }
}
