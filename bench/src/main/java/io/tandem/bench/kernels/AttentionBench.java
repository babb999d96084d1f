package io.tandem.bench.kernels;

import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.model.PagedAttention;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Prefill attention of one layer of the small model (12 query heads, 4 kv heads, head_dim 64, block size 64) on one
 * thread, per-(token, head) {@link PagedAttention#attend} against query-blocked {@link PagedAttention#attendBlock},
 * timed in CPU time of the benchmark thread so that neighbours on a shared machine move the figures little.
 *
 * <p>Usage: {@code AttentionBench [context:chunk ...]} (default {@code 512:512 2048:2048 4096:4096 4096:512}): a
 * chunk of {@code chunk} tokens ending at position {@code context}, every earlier position cached. Prints CPU
 * milliseconds per layer (best of several repetitions) and GFLOP/s (2 flops per multiply-add of QK^T and PV).
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp bench/target/tandem-bench-0.1.0-SNAPSHOT.jar:$(cat
 * bench/target/classpath.txt) io.tandem.bench.kernels.AttentionBench}
 */
public final class AttentionBench {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    private static final int KV_HEADS = 4;
    private static final int GROUP = 3;
    private static final int HD = 64;
    private static final int BS = 64;

    private AttentionBench() {
    }

    public static void main(String[] args) {
        String[] cases = args.length > 0 ? args : new String[] {"512:512", "2048:2048", "4096:4096", "4096:512"};
        System.out.printf(Locale.ROOT, "%8s %6s %14s %14s %10s %10s %7s%n", "context", "chunk", "per-head ms/L",
                "blocked ms/L", "ph GF/s", "bl GF/s", "speedup");
        for (String c : cases) {
            String[] p = c.split(":");
            run(Integer.parseInt(p[0]), Integer.parseInt(p[1]));
        }
    }

    private static void run(int context, int chunk) {
        int firstPos = context - chunk;
        int nHeads = KV_HEADS * GROUP;
        int qDim = nHeads * HD;
        KvLayout layout = new KvLayout(KvDtype.F32, 1, KV_HEADS, HD, BS);
        int nBlocks = (context + BS - 1) / BS;
        SplittableRandom rnd = new SplittableRandom(context);
        try (KvCache cache = new KvCache(layout, nBlocks, KvMemoryProvider.offHeap())) {
            int[] table = new int[nBlocks];
            for (int i = 0; i < nBlocks; i++) {
                table[i] = nBlocks - 1 - i;
            }
            float[] kRow = new float[KV_HEADS * HD];
            float[] vRow = new float[KV_HEADS * HD];
            for (int pos = 0; pos < context; pos++) {
                for (int i = 0; i < kRow.length; i++) {
                    kRow[i] = (float) rnd.nextGaussian();
                    vRow[i] = (float) rnd.nextGaussian();
                }
                PagedAttention.store(cache, 0, table, pos, kRow, 0, vRow, 0);
            }
            float[] q = new float[chunk * qDim];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            float[] out = new float[q.length];
            float[] scores = new float[context];
            float scale = 0.125f;
            double flops = 0;
            for (int t = 0; t < chunk; t++) {
                flops += 4.0 * HD * (firstPos + t + 1) * nHeads;
            }
            int reps = Math.max(2, (int) (4e9 / flops));
            double perHead = Double.MAX_VALUE;
            double blocked = Double.MAX_VALUE;
            int rows = chunk * GROUP;
            int br = PagedAttention.BLOCK_ROWS;
            for (int round = 0; round < 3; round++) {
                long c0 = MX.getCurrentThreadCpuTime();
                for (int r = 0; r < reps; r++) {
                    for (int t = 0; t < chunk; t++) {
                        for (int h = 0; h < nHeads; h++) {
                            PagedAttention.attend(cache, 0, h / GROUP, table, firstPos + t + 1, q, t * qDim + h * HD,
                                    scale, scores, out, t * qDim + h * HD);
                        }
                    }
                }
                long c1 = MX.getCurrentThreadCpuTime();
                for (int r = 0; r < reps; r++) {
                    for (int kh = 0; kh < KV_HEADS; kh++) {
                        for (int row = 0; row < rows; row += br) {
                            PagedAttention.attendBlock(cache, 0, kh, GROUP, table, firstPos, row,
                                    Math.min(rows, row + br), q, 0, qDim, scale, out);
                        }
                    }
                }
                long c2 = MX.getCurrentThreadCpuTime();
                if (round > 0) {
                    perHead = Math.min(perHead, (c1 - c0) / 1e6 / reps);
                    blocked = Math.min(blocked, (c2 - c1) / 1e6 / reps);
                }
            }
            System.out.printf(Locale.ROOT, "%8d %6d %14.2f %14.2f %10.1f %10.1f %6.1fx%n", context, chunk, perHead,
                    blocked, flops / perHead / 1e6, flops / blocked / 1e6, perHead / blocked);
        }
    }
}
