package io.tandem.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.tensor.Quants;
import io.tandem.engine.testing.TestModels;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine's forward pass against a plain float64 transcription of the Llama-family equations over contiguous
 * KV, for each architecture switch: GQA, Q/K/V biases (qwen2), per-head Q/K norms and a head size other than
 * dim/heads (qwen3), NeoX vs adjacent-pair RoPE, tied embeddings, quantized weights.
 */
class ForwardReferenceTest {

    static Stream<Arguments> models() {
        ModelSpec base = new ModelSpec("ref", "llama", 128, 2, 4, 2, 0, 256, 600, 256, GgmlType.F32, false, 11);
        return Stream.of(
                Arguments.of("llama-gqa", base),
                Arguments.of("llama-tied", base.withTied(true).withSeed(12)),
                Arguments.of("llama-q8_0", base.withType(GgmlType.Q8_0).withSeed(13)),
                Arguments.of("llama-q8_0-tied", base.withType(GgmlType.Q8_0).withTied(true).withSeed(16)),
                Arguments.of("qwen2-bias", base.withArchitecture("qwen2").withSeed(14)),
                Arguments.of("qwen3-qknorm", new ModelSpec("ref", "qwen3", 128, 2, 4, 2, 48, 256, 600, 256,
                        GgmlType.F32, true, 15)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void prefillThenDecode_matchesFloat64Reference(String label, ModelSpec spec) {
        Path path = TestModels.generated(spec, "ref-" + label + ".gguf");
        try (LoadedModel m = LoadedModel.load(path)) {
            compare(m, 17, 6);
        }
    }

    @Test
    void realStoriesModel_matchesFloat64Reference() {
        try (LoadedModel m = LoadedModel.load(TestModels.stories())) {
            compare(m, 9, 4);
        }
    }

    @Test
    void q8DecodeTiles_giveTheLogitsOfTheFileLayout() {
        ModelSpec spec = models().map(a -> (ModelSpec) a.get()[1]).filter(s -> s.type() == GgmlType.Q8_0)
                .findFirst().orElseThrow();
        Path path = TestModels.generated(spec, "ref-llama-q8_0.gguf");
        try (LoadedModel m = LoadedModel.load(path)) {
            ModelWeights tiled = m.weights();
            assertThat(tiled.layers().get(0).wq().decodeTiles()).as("the loader packs Q8_0 projections").isNotNull();
            ModelWeights plain = withoutTiles(tiled);
            ModelConfig c = m.config();
            int[] tokens = new SplittableRandom(3).ints(12, 0, c.vocabSize()).toArray();
            float[][] logits = new float[2][];
            ModelWeights[] both = {tiled, plain};
            KvLayout layout = new KvLayout(KvDtype.F32, c.nLayers(), c.nKvHeads(), c.headDim(), 4);
            for (int step = 8; step < tokens.length; step++) {
                for (int i = 0; i < 2; i++) {
                    try (ComputePool pool = new ComputePool(2);
                         KvCache cache = new KvCache(layout, 8, KvMemoryProvider.offHeap())) {
                        int[] table = {0, 1, 2, 3, 4, 5, 6, 7};
                        LlamaForward f = new LlamaForward(c, pool, 16, 1);
                        ForwardBatch b = new ForwardBatch(16, 1);
                        b.addSequence(table, tokens, 0, step, 0, true);
                        f.forward(both[i], cache, b);
                        b.clear();
                        b.addSequence(table, tokens, step, step + 1, step, true);
                        logits[i] = f.forward(both[i], cache, b).clone();
                    }
                }
                // The same float operations per lane in both kernels; reduceLanes may associate differently while one
                // of them still runs interpreted, so agreement is to rounding, and the greedy choice is the same.
                for (int v = 0; v < c.vocabSize(); v++) {
                    assertThat(logits[0][v]).as("position %d, logit %d", step, v)
                            .isCloseTo(logits[1][v], org.assertj.core.data.Offset.offset(1e-4f));
                }
                assertThat(argmax(logits[0])).as("greedy token at position %d", step).isEqualTo(argmax(logits[1]));
            }
        }
    }

    @Test
    void q8Projections_areReadFromTheTilesOnly_soTheirMappedPagesLeaveTheResidentSet() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.Files.isReadable(Path.of("/proc/self/smaps")),
                "needs Linux's /proc/self/smaps");
        // The tiny preset is large enough that the projections and the output span many pages: 4 layers of
        // [256 x 256] x 4 and [768 x 256] x 3, and [4096 x 256], in Q8_0.
        Path path = TestModels.generated(ModelSpec.tiny(GgmlType.Q8_0), "resident-tiny-q8_0.gguf").toAbsolutePath();
        try (LoadedModel m = LoadedModel.load(path)) {
            ModelWeights w = m.weights();
            long packed = w.output().data().byteSize();
            for (LayerWeights l : w.layers()) {
                for (WeightMatrix x : new WeightMatrix[] {l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()}) {
                    assertThat(x.decodeTiles()).isNotNull();
                    packed += x.data().byteSize();
                }
            }
            long fileBytes = java.nio.file.Files.size(path);
            long unpacked = fileBytes - packed; // embeddings, norms, the header
            assertThat(mappedRss(path)).as("resident bytes of the mapping after loading").isLessThan(unpacked + (64 << 10));
            // A prefill chunk (the GEMM path), then decode steps alone and in a batch of three (both decode paths).
            ModelConfig c = m.config();
            KvLayout layout = new KvLayout(KvDtype.F32, c.nLayers(), c.nKvHeads(), c.headDim(), 16);
            try (ComputePool pool = new ComputePool(2); KvCache cache = new KvCache(layout, 8, KvMemoryProvider.offHeap())) {
                int[] tokens = new SplittableRandom(4).ints(40, 0, c.vocabSize()).toArray();
                LlamaForward f = new LlamaForward(c, pool, 40, 3);
                ForwardBatch b = new ForwardBatch(40, 3);
                int[][] tables = {{0, 1}, {2, 3}, {4, 5}};
                for (int s = 0; s < 3; s++) {
                    b.clear();
                    b.addSequence(tables[s], tokens, 0, 20, 0, true);
                    f.forward(w, cache, b);
                }
                b.clear();
                b.addSequence(tables[0], tokens, 20, 21, 20, true);
                f.forward(w, cache, b);
                b.clear();
                for (int s = 0; s < 3; s++) {
                    b.addSequence(tables[s], tokens, 21, 22, 21, true);
                }
                f.forward(w, cache, b);
            }
            assertThat(mappedRss(path)).as("resident bytes of the mapping after prefill and decode")
                    .isLessThan(unpacked + (64 << 10));
        }
    }

    /** Resident bytes of this process's mappings of {@code file}, from /proc/self/smaps. */
    private static long mappedRss(Path file) throws java.io.IOException {
        long rss = 0;
        boolean inFile = false;
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                inFile = line.endsWith(" " + file);
            } else if (inFile && line.startsWith("Rss:")) {
                rss += Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return rss;
    }

    @Test
    void q8DecodeTiles_areFreedWithTheMappingAndWithTheirWeightArena() {
        ModelSpec spec = models().map(a -> (ModelSpec) a.get()[1]).filter(s -> s.type() == GgmlType.Q8_0)
                .findFirst().orElseThrow();
        Path path = TestModels.generated(spec, "ref-llama-q8_0.gguf");
        try (LoadedModel m = LoadedModel.load(path)) {
            java.lang.foreign.MemorySegment tiles = m.weights().layers().get(0).wDown().decodeTiles();
            assertThat(tiles.scope().isAlive()).isTrue();
            m.unmapWeights(); // what a level-2 sleep does
            assertThat(tiles.scope().isAlive()).as("tiles after unmapping").isFalse();
            assertThat(m.remapWeights().layers().get(0).wDown().decodeTiles().scope().isAlive()).isTrue();
        }
        WeightArenas arenas = new WeightArenas();
        WeightMatrix owned = arenas.allocate(GgmlType.Q8_0, 6, 64);
        WeightMatrix tiled = arenas.withDecodeTiles(owned);
        assertThat(tiled.decodeTiles()).isNotNull();
        assertThat(arenas.owns(tiled)).isTrue();
        arenas.free(tiled);
        assertThat(tiled.decodeTiles().scope().isAlive()).as("tiles after free").isFalse();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> arenas.withDecodeTiles(owned))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static ModelWeights withoutTiles(ModelWeights w) {
        java.util.function.UnaryOperator<WeightMatrix> strip =
                m -> new WeightMatrix(m.type(), m.rows(), m.cols(), m.data(), null);
        java.util.List<LayerWeights> layers = w.layers().stream().map(l -> new LayerWeights(l.attnNorm(),
                strip.apply(l.wq()), strip.apply(l.wk()), strip.apply(l.wv()), strip.apply(l.wo()), l.bq(), l.bk(),
                l.bv(), l.qNorm(), l.kNorm(), l.ffnNorm(), strip.apply(l.wGate()), strip.apply(l.wUp()),
                strip.apply(l.wDown()))).toList();
        return new ModelWeights(strip.apply(w.tokenEmbedding()), layers, w.outputNorm(), strip.apply(w.output()),
                w.ropeFreqFactors());
    }

    /** Prefills {@code prompt} tokens as one chunk, then decodes {@code steps} more, comparing every logits row. */
    private static void compare(LoadedModel m, int prompt, int steps) {
        ModelConfig c = m.config();
        SplittableRandom r = new SplittableRandom(5);
        int[] tokens = new int[prompt + steps];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = r.nextInt(c.vocabSize());
        }
        Reference ref = new Reference(m);
        KvLayout layout = new KvLayout(KvDtype.F32, c.nLayers(), c.nKvHeads(), c.headDim(), 4);
        try (ComputePool pool = new ComputePool(2);
             KvCache cache = new KvCache(layout, 16, KvMemoryProvider.offHeap())) {
            int[] table = {9, 3, 12, 0, 7, 1, 14, 2};
            LlamaForward f = new LlamaForward(c, pool, 64, 4);
            ForwardBatch b = new ForwardBatch(64, 4);
            b.addSequence(table, tokens, 0, prompt, 0, true);
            assertClose(f.forward(m.weights(), cache, b), ref.run(tokens, prompt), c.vocabSize(), "prefill");
            for (int p = prompt; p < tokens.length; p++) {
                b.clear();
                b.addSequence(table, tokens, p, p + 1, p, true);
                assertClose(f.forward(m.weights(), cache, b), ref.run(tokens, p + 1), c.vocabSize(), "position " + p);
            }
        }
    }

    private static void assertClose(float[] actual, double[] expected, int vocab, String what) {
        double scale = 0;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < vocab; i++) {
            assertThat((double) actual[i]).as("%s, logit %d", what, i)
                    .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(1e-3 * scale + 1e-4));
        }
    }

    /** Float64, contiguous-KV, one-token-at-a-time transcription of the equations. */
    private static final class Reference {
        private final ModelConfig c;
        private final ModelWeights w;

        Reference(LoadedModel m) {
            this.c = m.config();
            this.w = m.weights();
        }

        /** Logits after feeding tokens[0..n). */
        double[] run(int[] tokens, int n) {
            int hd = c.headDim();
            double[][][] keys = new double[c.nLayers()][n][c.kvDim()];
            double[][][] values = new double[c.nLayers()][n][c.kvDim()];
            double[] x = null;
            for (int pos = 0; pos < n; pos++) {
                x = row(w.tokenEmbedding(), tokens[pos]);
                for (int l = 0; l < c.nLayers(); l++) {
                    LayerWeights lw = w.layers().get(l);
                    double[] h = rmsnorm(x, lw.attnNorm());
                    double[] q = matvec(lw.wq(), h, lw.bq());
                    double[] k = matvec(lw.wk(), h, lw.bk());
                    double[] v = matvec(lw.wv(), h, lw.bv());
                    for (int head = 0; head < c.nHeads(); head++) {
                        if (lw.qNorm() != null) {
                            normHead(q, head * hd, lw.qNorm());
                        }
                        rope(q, head * hd, pos);
                    }
                    for (int head = 0; head < c.nKvHeads(); head++) {
                        if (lw.kNorm() != null) {
                            normHead(k, head * hd, lw.kNorm());
                        }
                        rope(k, head * hd, pos);
                    }
                    keys[l][pos] = k;
                    values[l][pos] = v;
                    double[] att = new double[c.qDim()];
                    for (int head = 0; head < c.nHeads(); head++) {
                        int kvh = head / c.groupSize();
                        double[] s = new double[pos + 1];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= pos; j++) {
                            double d = 0;
                            for (int i = 0; i < hd; i++) {
                                d += q[head * hd + i] * keys[l][j][kvh * hd + i];
                            }
                            s[j] = d / Math.sqrt(hd);
                            max = Math.max(max, s[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= pos; j++) {
                            s[j] = Math.exp(s[j] - max);
                            sum += s[j];
                        }
                        for (int j = 0; j <= pos; j++) {
                            for (int i = 0; i < hd; i++) {
                                att[head * hd + i] += s[j] / sum * values[l][j][kvh * hd + i];
                            }
                        }
                    }
                    add(x, matvec(lw.wo(), att, null));
                    h = rmsnorm(x, lw.ffnNorm());
                    double[] g = matvec(lw.wGate(), h, null);
                    double[] u = matvec(lw.wUp(), h, null);
                    for (int i = 0; i < g.length; i++) {
                        g[i] = g[i] / (1 + Math.exp(-g[i])) * u[i];
                    }
                    add(x, matvec(lw.wDown(), g, null));
                }
            }
            return matvec(w.output(), rmsnorm(x, w.outputNorm()), null);
        }

        private void rope(double[] v, int off, int pos) {
            int half = c.ropeDim() / 2;
            boolean adjacent = c.architecture().ropeStyle() == Architecture.RopeStyle.ADJACENT_PAIRS;
            for (int i = 0; i < half; i++) {
                double freq = Math.pow(c.ropeTheta(), -2.0 * i / c.ropeDim());
                double a = pos * freq;
                int i0 = adjacent ? off + 2 * i : off + i;
                int i1 = adjacent ? i0 + 1 : off + i + half;
                double x0 = v[i0];
                double x1 = v[i1];
                v[i0] = x0 * Math.cos(a) - x1 * Math.sin(a);
                v[i1] = x0 * Math.sin(a) + x1 * Math.cos(a);
            }
        }

        private void normHead(double[] v, int off, float[] weight) {
            double ss = 0;
            for (int i = 0; i < weight.length; i++) {
                ss += v[off + i] * v[off + i];
            }
            double inv = 1 / Math.sqrt(ss / weight.length + c.rmsEps());
            for (int i = 0; i < weight.length; i++) {
                v[off + i] = v[off + i] * inv * weight[i];
            }
        }

        private double[] rmsnorm(double[] x, float[] weight) {
            double[] out = x.clone();
            normHead(out, 0, weight);
            return out;
        }

        private static void add(double[] x, double[] y) {
            for (int i = 0; i < x.length; i++) {
                x[i] += y[i];
            }
        }

        private static double[] row(WeightMatrix m, int r) {
            float[] f = new float[m.cols()];
            Quants.dequantizeRow(m.type(), m.data(), m.rowOffset(r), f, 0, m.cols());
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                d[i] = f[i];
            }
            return d;
        }

        private static double[] matvec(WeightMatrix m, double[] x, float[] bias) {
            if (m.type() == GgmlType.Q8_0) {
                x = q8Rounded(x);
            }
            double[] out = new double[m.rows()];
            for (int r = 0; r < m.rows(); r++) {
                double[] wr = row(m, r);
                double s = bias == null ? 0 : bias[r];
                for (int i = 0; i < x.length; i++) {
                    s += wr[i] * x[i];
                }
                out[r] = s;
            }
            return out;
        }

        /** Q8_0 weights meet activations rounded to Q8_0 (per 32: d = max|x| / 127, q = x / d half away), as llama.cpp. */
        private static double[] q8Rounded(double[] x) {
            double[] r = new double[x.length];
            for (int b = 0; b < x.length / 32; b++) {
                double amax = 0;
                for (int i = 0; i < 32; i++) {
                    amax = Math.max(amax, Math.abs(x[32 * b + i]));
                }
                double d = amax / 127;
                for (int i = 0; i < 32; i++) {
                    r[32 * b + i] = d == 0 ? 0 : Math.signum(x[32 * b + i]) * Math.floor(Math.abs(x[32 * b + i]) / d + 0.5) * d;
                }
            }
            return r;
        }
    }
}
