package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Quick kernel figures without JMH's long runs: memory read bandwidth, then per type the effective weight-read
 * bandwidth of decode (n = 1, 8, 32) over a small-model-shaped stack of layers larger than the last-level cache, and
 * the GFLOP/s of prefill (n = 512) over the 12 layers of the small model (matmuls only).
 *
 * <p>Usage: {@code KernelReport [types...]} (default: all). Every figure is the best of several timed sweeps after
 * warm-up sweeps. Each type gets two rows: wall-clock rates (bandwidth re-measured just before, so compare the ratio),
 * and the same work per CPU-second of the compute threads times the thread count ({@link CpuClock}), which estimates
 * the rate with the cores to ourselves when neighbours load the machine.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp bench/target/tandem-bench-0.1.0-SNAPSHOT.jar:$(cat
 * bench/target/classpath.txt) io.tandem.bench.kernels.KernelReport}; {@code -Dtandem.bench.prefillN} changes the
 * prefill token count (512), {@code -Dtandem.bench.decodeBytes} the decode model size (1 GiB).
 */
public final class KernelReport {
    private KernelReport() {
    }

    public static void main(String[] args) {
        List<GgmlType> types = new ArrayList<>();
        for (String a : args) {
            types.add(GgmlType.valueOf(a));
        }
        if (types.isEmpty()) {
            types = List.of(GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16,
                    GgmlType.BF16);
        }
        long target = Long.getLong("tandem.bench.decodeBytes", 1L << 30);
        int prefillN = Integer.getInteger("tandem.bench.prefillN", 512);
        try (ComputePool pool = new ComputePool()) {
            double bw = MemoryBandwidth.measureGBs(pool, 8);
            System.out.printf("threads %d, vector %d bits, memory read bandwidth %.1f GB/s%n", pool.threads(),
                    jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize(), bw);
            System.out.printf("parallelFor round trip (%d tasks, empty body): %.2f us%n", pool.threads(),
                    dispatchMicros(pool));
            System.out.printf("%-5s %8s %9s %7s %9s %9s %9s %12s %10s%n", "type", "bw GB/s", "n=1 GB/s", "of bw",
                    "n=8 GB/s", "n=32 GB/s", "n=1 us/L", "n=512 GF/s", "pf tok/s");
            for (GgmlType type : types) {
                int layers = SmallModelWeights.layersFor(type, target);
                try (SmallModelWeights model = new SmallModelWeights(type, layers)) {
                    // Bandwidth again right before each type: on a shared machine it drifts with the neighbours' load,
                    // and the ratio to a measurement taken moments apart is the figure that means something.
                    double bwNow = MemoryBandwidth.measureGBs(pool, 4);
                    double bwCpu = MemoryBandwidth.lastCpuGBs;
                    double t1 = sweep(pool, model.layers, 1, 3, 7);
                    double c1 = lastCpuSeconds;
                    double t8 = sweep(pool, model.layers, 8, 2, 4);
                    double t32 = sweep(pool, model.layers, 32, 1, 3);
                    WeightMatrix[][] twelve = java.util.Arrays.copyOf(model.layers, Math.min(12, layers));
                    long twelveParams = model.params / layers * twelve.length;
                    double tp = sweep(pool, twelve, prefillN, 1, 3);
                    double cp = lastCpuSeconds;
                    double gb1 = model.bytes / t1 / 1e9;
                    System.out.printf("%-5s %8.1f %9.1f %6.0f%% %9.1f %9.1f %9.1f %12.1f %10.0f%n", type, bwNow, gb1,
                            100 * gb1 / bwNow, model.bytes / t8 / 1e9, model.bytes / t32 / 1e9,
                            t1 / layers * 1e6, 2.0 * twelveParams * prefillN / tp / 1e9,
                            prefillN / tp * twelve.length / 12);
                    System.out.printf("%-5s %8.1f %9.1f %6.0f%% %9s %9s %9s %12.1f %10.0f   (per CPU-second x threads)%n",
                            type, bwCpu, model.bytes / c1 / 1e9, 100 * model.bytes / c1 / 1e9 / bwCpu, "", "", "",
                            2.0 * twelveParams * prefillN / cp / 1e9, prefillN / cp * twelve.length / 12);
                }
            }
        }
    }

    /** CPU seconds per thread of the best timed sweep of the last {@link #sweep} call. */
    static double lastCpuSeconds;

    /** Median round trip of an empty parallelFor with one task per thread, in microseconds. */
    static double dispatchMicros(ComputePool pool) {
        int[] sink = new int[pool.threads()];
        long[] samples = new long[20_000];
        for (int i = 0; i < 2 * samples.length; i++) {
            long t0 = System.nanoTime();
            pool.parallelFor(pool.threads(), t -> sink[t]++);
            if (i >= samples.length) {
                samples[i - samples.length] = System.nanoTime() - t0;
            }
        }
        java.util.Arrays.sort(samples);
        return samples[samples.length / 2] / 1e3;
    }

    /**
     * Seconds for one forward sweep of matmuls over {@code layers} with {@code n} tokens, the way the engine issues
     * them (q/k/v fused, o, gate/up fused, down); best of {@code timed} after {@code warm} warm-up sweeps.
     */
    static double sweep(ComputePool pool, WeightMatrix[][] layers, int n, int warm, int timed) {
        int dim = SmallModelWeights.DIM;
        int kv = SmallModelWeights.KV_DIM;
        int ffn = SmallModelWeights.FFN;
        Random rnd = new Random(3);
        float[] x = new float[n * dim];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] q = new float[n * dim];
        float[] k = new float[n * kv];
        float[] v = new float[n * kv];
        float[] o = new float[n * dim];
        float[] g = new float[n * ffn];
        float[] u = new float[n * ffn];
        float[] d = new float[n * dim];
        float[][] qkv = {q, k, v};
        float[][] gu = {g, u};
        double best = Double.MAX_VALUE;
        double bestCpu = Double.MAX_VALUE;
        for (int rep = 0; rep < warm + timed; rep++) {
            long c0 = CpuClock.nanos();
            long t0 = System.nanoTime();
            for (WeightMatrix[] l : layers) {
                Matmul.matmulMany(pool, new WeightMatrix[] {l[0], l[1], l[2]}, x, n, qkv);
                Matmul.matmul(pool, l[3], q, n, o);
                Matmul.matmulMany(pool, new WeightMatrix[] {l[4], l[5]}, x, n, gu);
                Matmul.matmul(pool, l[6], g, n, d);
            }
            double s = (System.nanoTime() - t0) / 1e9;
            double cpu = (CpuClock.nanos() - c0) / 1e9 / pool.threads();
            if (rep >= warm) {
                best = Math.min(best, s);
                bestCpu = Math.min(bestCpu, cpu);
            }
        }
        lastCpuSeconds = bestCpu;
        return best;
    }
}
