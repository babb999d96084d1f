package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.Arena;

/**
 * One matrix, timed in a loop: {@code MatmulProbe TYPE ROWS COLS N[,N...] [threads]}. Small matrices stay in cache,
 * so this isolates the kernels' compute rate from memory bandwidth. A tuning aid, not a benchmark of record.
 * With one thread it also reports rates from the thread's CPU time, which stay meaningful on a shared, busy machine
 * (time spent descheduled is not counted).
 */
public final class MatmulProbe {
    private MatmulProbe() {
    }

    public static void main(String[] args) {
        GgmlType type = GgmlType.valueOf(args[0]);
        int rows = Integer.parseInt(args[1]);
        int cols = Integer.parseInt(args[2]);
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : Runtime.getRuntime().availableProcessors();
        try (Arena arena = Arena.ofShared(); ComputePool pool = new ComputePool(threads)) {
            WeightMatrix w = SmallModelWeights.randomMatrix(type, rows, cols, switch (System.getProperty("arena", "shared")) {
                case "global" -> Arena.global();
                case "auto" -> Arena.ofAuto();
                default -> arena;
            });
            for (String ns : args[3].split(",")) {
                int n = Integer.parseInt(ns);
                float[] x = new float[n * cols];
                java.util.Arrays.fill(x, 0.5f);
                float[] out = new float[n * rows];
                long flops = 2L * rows * cols * n;
                int iters = (int) Math.max(20, 2e10 / flops / Math.max(1, 20 / n));
                java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
                double best = Double.MAX_VALUE;
                double bestCpu = Double.MAX_VALUE;
                for (int rep = 0; rep < 5; rep++) {
                    long c0 = mx.getCurrentThreadCpuTime();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < iters; i++) {
                        Matmul.matmul(pool, w, x, n, out);
                    }
                    best = Math.min(best, (System.nanoTime() - t0) / 1e9 / iters);
                    bestCpu = Math.min(bestCpu, (mx.getCurrentThreadCpuTime() - c0) / 1e9 / iters);
                }
                System.out.printf("%s [%d x %d] n=%-4d %9.1f us  %7.1f GB/s  %7.1f GFLOP/s", type, rows, cols, n,
                        best * 1e6, w.data().byteSize() / best / 1e9, flops / best / 1e9);
                if (threads == 1) {
                    System.out.printf("   | cpu time: %9.1f us  %7.1f GB/s  %7.1f GFLOP/s", bestCpu * 1e6,
                            w.data().byteSize() / bestCpu / 1e9, flops / bestCpu / 1e9);
                }
                System.out.println();
            }
        }
    }
}
