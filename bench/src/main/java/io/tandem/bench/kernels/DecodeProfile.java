package io.tandem.bench.kernels;

import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.model.ForwardBatch;
import io.tandem.engine.model.LayerWeights;
import io.tandem.engine.model.LlamaForward;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.model.ModelWeights;
import io.tandem.engine.tensor.GgmlType;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Where a batch-1 decode step of the small model goes: the whole {@link LlamaForward#forward} step against the same
 * step's weight matmuls alone (the seven matrices of every layer, fused as the forward pass issues them, and the output
 * projection), timed alternately in the same process, so that the difference is the step's non-matmul time (norms,
 * RoPE, KV stores, attention, the other parallel loops and their fork/join).
 *
 * <p>Usage: {@code DecodeProfile [type] [context]} (default F32, 64): decode steps at position {@code context}.
 * Prints the fastest step of each kind in milliseconds and the effective weight-read bandwidth of each.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp bench/target/tandem-bench-0.1.0-SNAPSHOT.jar:$(cat
 * bench/target/classpath.txt) io.tandem.bench.kernels.DecodeProfile F32 64}
 */
public final class DecodeProfile {
    private DecodeProfile() {
    }

    public static void main(String[] args) throws Exception {
        GgmlType type = GgmlType.valueOf(args.length > 0 ? args[0] : "F32");
        int context = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        Path path = ModelGenerator.ensure(ModelSpec.preset("small", type),
                Path.of("models", "tandem-small-" + type.name().toLowerCase(Locale.ROOT) + ".gguf"));
        try (LoadedModel m = LoadedModel.load(path); ComputePool pool = new ComputePool()) {
            ModelConfig c = m.config();
            ModelWeights w = m.weights();
            int bs = 64;
            int blocks = (context + 1) / bs + 2;
            KvLayout layout = new KvLayout(KvDtype.F32, c.nLayers(), c.nKvHeads(), c.headDim(), bs);
            try (KvCache cache = new KvCache(layout, blocks, KvMemoryProvider.offHeap())) {
                int[] table = new int[blocks];
                for (int i = 0; i < blocks; i++) {
                    table[i] = i;
                }
                LlamaForward f = new LlamaForward(c, pool, Math.max(context, 1), 1);
                ForwardBatch b = new ForwardBatch(Math.max(context, 1), 1);
                int[] ids = new int[context + 1];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = 300 + i;
                }
                b.clear();
                b.addSequence(table, ids, 0, context, 0, true);
                f.forward(w, cache, b); // the context, prefilled once

                float[] x = new float[c.dim()];
                float[] q = new float[c.qDim()];
                float[] k = new float[c.kvDim()];
                float[] v = new float[c.kvDim()];
                float[] o = new float[c.dim()];
                float[] hb = new float[c.ffnDim()];
                float[] hb2 = new float[c.ffnDim()];
                float[] logits = new float[c.vocabSize()];
                java.util.Arrays.fill(x, 0.01f);
                java.util.Arrays.fill(hb, 0.01f);
                float[][] qkv = {q, k, v};
                float[][] gu = {hb, hb2};

                int reps = 60;
                long[] step = new long[reps];
                long[] mm = new long[reps];
                for (int round = 0; round < 2; round++) {
                    for (int r = 0; r < reps; r++) {
                        long t0 = System.nanoTime();
                        b.clear();
                        b.addSequence(table, ids, context, context + 1, context, true);
                        f.forward(w, cache, b);
                        long t1 = System.nanoTime();
                        for (LayerWeights lw : w.layers()) {
                            Matmul.matmulMany(pool, new WeightMatrix[] {lw.wq(), lw.wk(), lw.wv()}, x, 1, qkv);
                            Matmul.matmul(pool, lw.wo(), q, 1, o);
                            Matmul.matmulMany(pool, new WeightMatrix[] {lw.wGate(), lw.wUp()}, x, 1, gu);
                            Matmul.matmul(pool, lw.wDown(), hb, 1, o);
                        }
                        Matmul.matmul(pool, w.output(), x, 1, logits);
                        long t2 = System.nanoTime();
                        step[r] = t1 - t0;
                        mm[r] = t2 - t1;
                    }
                }
                // Fastest of each: on a shared machine the slow samples are the neighbours', not ours.
                java.util.Arrays.sort(step);
                java.util.Arrays.sort(mm);
                double s = step[0] / 1e6;
                double mmMs = mm[0] / 1e6;
                double bytes = w.matrixBytesPerStep();
                double bw = MemoryBandwidth.measureGBs(pool, 4);
                System.out.printf(Locale.ROOT, "%s context %d, threads %d, read bandwidth %.1f GB/s%n", type, context,
                        pool.threads(), bw);
                System.out.printf(Locale.ROOT, "forward step  %7.2f ms  %5.1f GB/s  %3.0f%% of bw%n", s,
                        bytes / s / 1e6, 100 * bytes / s / 1e6 / bw);
                System.out.printf(Locale.ROOT, "matmuls alone %7.2f ms  %5.1f GB/s  %3.0f%% of bw%n", mmMs,
                        bytes / mmMs / 1e6, 100 * bytes / mmMs / 1e6 / bw);
                System.out.printf(Locale.ROOT, "non-matmul    %7.2f ms  (%.0f%% of the step)%n", s - mmMs,
                        100 * (s - mmMs) / s);
            }
        }
    }
}
