package io.tandem.engine.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ComputePoolTest {

    @Test
    void runsEveryTaskExactlyOnce() {
        try (ComputePool pool = new ComputePool(2)) {
            for (int round = 0; round < 2000; round++) {
                int tasks = 1 + round % 37;
                AtomicIntegerArray counts = new AtomicIntegerArray(tasks);
                pool.parallelFor(tasks, counts::incrementAndGet);
                for (int i = 0; i < tasks; i++) {
                    assertThat(counts.get(i)).as("round %d task %d", round, i).isEqualTo(1);
                }
            }
        }
    }

    @Test
    void wakesParkedWorkers() throws InterruptedException {
        try (ComputePool pool = new ComputePool(3)) {
            Thread.sleep(20); // long past the spin phase: workers are parked
            AtomicIntegerArray counts = new AtomicIntegerArray(100);
            pool.parallelFor(100, counts::incrementAndGet);
            for (int i = 0; i < 100; i++) {
                assertThat(counts.get(i)).isEqualTo(1);
            }
        }
    }

    @Test
    void rangesCoverEverythingOnceAligned() {
        try (ComputePool pool = new ComputePool(2)) {
            AtomicIntegerArray counts = new AtomicIntegerArray(1001);
            pool.parallelRanges(1001, 8, 4, (from, to) -> {
                assertThat(from % 8).isZero();
                for (int i = from; i < to; i++) {
                    counts.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 1001; i++) {
                assertThat(counts.get(i)).isEqualTo(1);
            }
        }
    }

    @Test
    void propagatesWorkerExceptionsAndStaysUsable() {
        try (ComputePool pool = new ComputePool(2)) {
            IllegalStateException boom = new IllegalStateException("boom");
            for (int failing = 0; failing < 16; failing++) {
                int f = failing;
                assertThatThrownBy(() -> pool.parallelFor(16, i -> {
                    if (i == f) {
                        throw boom;
                    }
                })).isSameAs(boom);
            }
            AtomicIntegerArray counts = new AtomicIntegerArray(8);
            pool.parallelFor(8, counts::incrementAndGet);
            assertThat(counts.get(7)).isEqualTo(1);
        }
    }

    @Test
    void rejectsNestedUse() {
        try (ComputePool pool = new ComputePool(2)) {
            assertThatThrownBy(() -> pool.parallelFor(4, i -> pool.parallelFor(2, j -> { })))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("already running");
        }
    }

    @Test
    void closeIsIdempotentAndRejectsLaterUse() {
        ComputePool pool = new ComputePool(2);
        pool.close();
        pool.close();
        assertThatThrownBy(() -> pool.parallelFor(2, i -> { })).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new ComputePool(0))
                .hasMessage("threads: 0 (expected: >= 1)");
    }
}
