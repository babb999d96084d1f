package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the machine's sustained memory read bandwidth the way our decode kernels read weights: Vector API loads
 * from an off-heap buffer larger than the last-level cache, on all threads of a {@link ComputePool}.
 *
 * <p>This is the yardstick that decode matmul efficiency (effective GB/s of weight bytes) is compared against. The
 * buffer is touched once before timing so page faults are not measured. Not thread-safe (uses the pool).
 */
public final class MemoryBandwidth {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** The last measurement as bytes per CPU-second per thread, times threads; see {@link CpuClock}. */
    static double lastCpuGBs;

    /** {@link #lastCpuGBs}, for callers outside this package. */
    public static synchronized double lastCpuGBs() {
        return lastCpuGBs;
    }

    /** Keeps the JIT from discarding the loads. */
    static volatile float sink;

    private MemoryBandwidth() {
    }

    /** The 1 GiB buffer every measurement reads, made and filled on first use. */
    private static MemorySegment shared;

    /** Read bandwidth in GB/s (10^9 bytes per second) over a 1 GiB buffer, using every available processor. */
    public static double measureGBs() {
        try (ComputePool pool = new ComputePool()) {
            return measureGBs(pool, 8);
        }
    }

    /**
     * Best of {@code repeats} full passes of each read pattern over a 1 GiB buffer, read by all threads of
     * {@code pool}, in GB/s. The buffer is allocated and filled once per process and reused by every later call, so
     * that a probe between two measurements does not page-fault and write a fresh gigabyte first.
     */
    public static synchronized double measureGBs(ComputePool pool, int repeats) {
        if (shared == null) {
            shared = Arena.global().allocate(1L << 30, 2L << 20);
            fill(pool, shared);
        }
        return measure(pool, shared, repeats);
    }

    private static void fill(ComputePool pool, MemorySegment buf) {
        int chunks = pool.threads() * 16;
        long chunkBytes = buf.byteSize() / chunks / 1024 * 1024;
        pool.parallelFor(chunks, i -> buf.asSlice(i * chunkBytes, chunkBytes).fill((byte) (i + 1)));
    }

    private static double measure(ComputePool pool, MemorySegment buf, int repeats) {
        int chunks = pool.threads() * 16;
        long chunkBytes = buf.byteSize() / chunks / 1024 * 1024;
        double best = 0;
        double bestCpu = 0;
        float[] partial = new float[chunks];
        for (int rep = 0; rep < 2 * repeats; rep++) {
            // Two read patterns, alternately: one sequential stream per chunk, and four interleaved streams per chunk
            // (the shape of the decode kernels, which read four weight rows at once); the best of both is the
            // machine's bandwidth, so a pattern the hardware prefetchers happen to like less does not lower the
            // yardstick.
            boolean four = (rep & 1) == 1;
            long c0 = CpuClock.nanos();
            long t0 = System.nanoTime();
            pool.parallelFor(chunks, i -> partial[i] = sum(buf, i * chunkBytes, chunkBytes, four));
            long t1 = System.nanoTime();
            double cpuPerThread = (CpuClock.nanos() - c0) / (double) pool.threads();
            best = Math.max(best, (double) chunkBytes * chunks / (t1 - t0));
            bestCpu = Math.max(bestCpu, (double) chunkBytes * chunks / cpuPerThread);
            sink += partial[0];
        }
        lastCpuGBs = bestCpu;
        return best;
    }

    /**
     * Sum of the floats in {@code [off, off+len)} with four vector accumulators: one sequential stream (the four
     * accumulators read consecutive vectors), or with {@code four} four streams (each reads one quarter of the range).
     */
    private static float sum(MemorySegment s, long off, long len, boolean four) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        long step = F.vectorByteSize();
        long gap = four ? len / 4 / step * step : step;
        long inc = four ? step : 4 * step;
        long n = four ? gap / step : len / (4 * step);
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        for (long k = 0; k < n; k++) {
            long p = off + k * inc;
            a0 = a0.add(FloatVector.fromMemorySegment(F, s, p, le));
            a1 = a1.add(FloatVector.fromMemorySegment(F, s, p + gap, le));
            a2 = a2.add(FloatVector.fromMemorySegment(F, s, p + 2 * gap, le));
            a3 = a3.add(FloatVector.fromMemorySegment(F, s, p + 3 * gap, le));
        }
        float r = a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
        for (long p = off + 4 * n * step; p < off + len; p += 4) { // both shapes read 4 * n vectors
            r += s.get(ValueLayout.JAVA_FLOAT_UNALIGNED, p);
        }
        return r;
    }

    public static void main(String[] args) {
        System.out.printf("memory read bandwidth: %.1f GB/s (%d threads)%n", measureGBs(),
                Runtime.getRuntime().availableProcessors());
    }
}
