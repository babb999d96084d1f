package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import java.util.Locale;

/**
 * What the per-matmul synchronization of batch-1 decode costs: {@code SyncProbe [MiB] [rounds]} sweeps a
 * small-model-shaped Q8_0 stack (as {@link StreamProbe}) three ways, alternately, on two threads:
 * <ul>
 *   <li>{@code engine}: as the forward pass issues the matmuls (q/k/v fused, o, gate/up fused, down), one parallel
 *       loop and one join each;</li>
 *   <li>{@code nobarrier}: one parallel loop for the whole sweep, each thread streaming its half of every matrix back
 *       to back with no join in between (not a valid forward pass: an upper bound for removing every join);</li>
 *   <li>{@code dispatch}: as many empty two-task parallel loops as {@code engine} runs, their cost alone.</li>
 * </ul>
 * Prints the fastest sweep's wall-clock rate and its rate per CPU-second of the two threads, in GB/s of weights.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp
 * bench/target/tandem-bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/classpath.txt)
 * io.tandem.bench.kernels.SyncProbe 100 3}
 */
public final class SyncProbe {
    private SyncProbe() {
    }

    public static void main(String[] args) {
        long mib = args.length > 0 ? Long.parseLong(args[0]) : 100;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        int layers = SmallModelWeights.layersFor(GgmlType.Q8_0, mib << 20);
        try (SmallModelWeights model = new SmallModelWeights(GgmlType.Q8_0, layers);
             ComputePool pool = new ComputePool(2);
             ComputePool solo0 = new ComputePool(1);
             ComputePool solo1 = new ComputePool(1)) {
            // Each thread's half of every matrix, as a matrix of its own (rows split at a multiple of the tile height).
            WeightMatrix[][][] halves = new WeightMatrix[2][layers][7];
            for (int l = 0; l < layers; l++) {
                for (int m = 0; m < 7; m++) {
                    WeightMatrix w = model.layers[l][m];
                    int half = (w.rows() / 2 + 3) / 4 * 4;
                    halves[0][l][m] = rows(w, 0, half);
                    halves[1][l][m] = rows(w, half, w.rows());
                }
            }
            float[] x = new float[SmallModelWeights.FFN];
            java.util.Arrays.fill(x, 0.01f);
            float[] out = new float[SmallModelWeights.FFN * 2];
            float[] out1 = new float[SmallModelWeights.FFN * 2];
            int dispatches = 4 * layers;
            System.out.printf(Locale.ROOT, "Q8_0 %.1f MiB, %d layers, %d parallel loops per engine sweep%n",
                    model.bytes / 1048576.0, layers, dispatches);
            for (int round = 0; round < rounds; round++) {
                for (String mode : new String[] {"engine", "nobarrier", "dispatch"}) {
                    double best = Double.MAX_VALUE;
                    double bestCpu = Double.MAX_VALUE;
                    for (int rep = 0; rep < 7; rep++) {
                        long c0 = CpuClock.nanos();
                        long t0 = System.nanoTime();
                        switch (mode) {
                            case "engine" -> KernelReport.sweep(pool, model.layers, 1, 0, 1);
                            case "nobarrier" -> pool.parallelFor(2, t -> {
                                ComputePool own = t == 0 ? solo0 : solo1;
                                float[] o = t == 0 ? out : out1;
                                for (WeightMatrix[] l : halves[t]) {
                                    for (WeightMatrix w : l) {
                                        Matmul.matmul(own, w, x, 1, o);
                                    }
                                }
                            });
                            default -> {
                                int[] sink = new int[2];
                                for (int i = 0; i < dispatches; i++) {
                                    pool.parallelFor(2, t -> sink[t]++);
                                }
                            }
                        }
                        double s = (System.nanoTime() - t0) / 1e9;
                        double cpu = (CpuClock.nanos() - c0) / 1e9 / 2;
                        if (rep >= 2) {
                            best = Math.min(best, s);
                            bestCpu = Math.min(bestCpu, cpu);
                        }
                    }
                    if (mode.equals("dispatch")) {
                        System.out.printf(Locale.ROOT, "%-9s %8.3f ms per sweep, %.2f us per loop%n", mode, best * 1e3,
                                best * 1e6 / dispatches);
                    } else {
                        System.out.printf(Locale.ROOT, "%-9s %8.2f ms  wall %5.1f GB/s  per CPU-second %5.1f GB/s%n",
                                mode, best * 1e3, model.bytes / best / 1e9, model.bytes / bestCpu / 1e9);
                    }
                }
            }
        }
    }

    /** Rows {@code [r0, r1)} of {@code w} ({@code r0} a multiple of 4), its decode tiles sliced alike. */
    private static WeightMatrix rows(WeightMatrix w, int r0, int r1) {
        long rb = w.rowBytes();
        java.lang.foreign.MemorySegment data = w.data().asSlice(r0 * rb, (r1 - r0) * rb);
        java.lang.foreign.MemorySegment tiles = null;
        if (w.decodeTiles() != null) {
            long tileBytes = w.decodeTiles().byteSize() / ((w.rows() + 3) / 4);
            tiles = w.decodeTiles().asSlice(r0 / 4 * tileBytes, (r1 - r0 + 3) / 4 * tileBytes);
        }
        return new WeightMatrix(w.type(), r1 - r0, w.cols(), data, tiles);
    }
}
