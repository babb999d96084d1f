package io.tandem.engine.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.tensor.Quants;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class MatmulTest {
    private static ComputePool pool;

    @BeforeAll
    static void start() {
        pool = new ComputePool(2);
    }

    @AfterAll
    static void stop() {
        pool.close();
    }

    static WeightMatrix randomMatrix(GgmlType type, int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        MemorySegment data = Arena.ofAuto().allocate(rows * type.byteSize(cols));
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                row[c] = (float) rnd.nextGaussian();
            }
            Quants.quantizeRow(type, row, 0, cols, data, r * type.byteSize(cols));
        }
        return WeightMatrix.of(type, rows, cols, data);
    }

    static float[] randomActivations(int n, int cols, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n * cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }

    /**
     * The Q8_0 rounding of activations, transcribed independently of {@link Q8Activations}: per block of 32,
     * {@code d = max|x| / 127}, {@code q = x / d} rounded half away from zero, the value {@code q * d}.
     */
    static float[] q8Rounded(float[] x, int cols) {
        float[] r = new float[x.length];
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(x[32 * b + i]));
            }
            float d = amax / 127f;
            float id = d == 0f ? 0f : 1f / d;
            for (int i = 0; i < 32; i++) {
                float v = x[32 * b + i] * id;
                int q = (int) (Math.abs(v) + 0.5f);
                r[32 * b + i] = (v < 0 ? -q : q) * d;
            }
        }
        return r;
    }

    /**
     * float64 reference from the scalar decoder, and the tolerance each element gets. Q8_0 weights meet the Q8_0
     * rounding of the activations ({@link #q8Rounded}), as in llama.cpp.
     */
    static void assertMatches(WeightMatrix w, float[] x, int n, float[] out) {
        if (w.type() == GgmlType.Q8_0) {
            x = q8Rounded(java.util.Arrays.copyOf(x, n * w.cols()), w.cols());
        }
        float[] row = new float[w.cols()];
        for (int r = 0; r < w.rows(); r++) {
            Quants.dequantizeRow(w.type(), w.data(), w.rowOffset(r), row, 0, w.cols());
            for (int t = 0; t < n; t++) {
                double sum = 0;
                double abs = 0;
                for (int c = 0; c < w.cols(); c++) {
                    double p = (double) row[c] * x[t * w.cols() + c];
                    sum += p;
                    abs += Math.abs(p);
                }
                assertThat((double) out[t * w.rows() + r])
                        .as("%s [%d x %d] n=%d token %d row %d", w.type(), w.rows(), w.cols(), n, t, r)
                        .isCloseTo(sum, org.assertj.core.data.Offset.offset(1e-5 * abs + 1e-6));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void matchesFloat64ReferenceForAllTypesAndShapes(GgmlType type) {
        int cols = type.blockSize() == 256 ? 512 : type.isQuantized() ? 96 : 100;
        int[] rowCounts = {1, 7, 37, 64};
        int[] ns = {1, 3, 7, 8, 15, 16, 17, 33, 64};
        for (int rows : rowCounts) {
            WeightMatrix w = randomMatrix(type, rows, cols, rows * 31L + type.ordinal());
            for (int n : ns) {
                float[] x = randomActivations(n, cols, n);
                float[] out = new float[n * rows + 5];
                java.util.Arrays.fill(out, Float.NaN);
                Matmul.matmul(pool, w, x, n, out);
                assertMatches(w, x, n, out);
                assertThat(out[n * rows]).as("untouched past n * rows").isNaN();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0"})
    void columnCountsThatLeaveAPartialColumnBlock(GgmlType type) {
        int cols = type.isQuantized() ? 288 : 300; // 256 + a partial block of the prefill kernel
        WeightMatrix w = randomMatrix(type, 13, cols, 9);
        for (int n : new int[] {1, 2, 40}) {
            float[] x = randomActivations(n, cols, 11);
            float[] out = new float[n * 13];
            Matmul.matmul(pool, w, x, n, out);
            assertMatches(w, x, n, out);
        }
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void matmulManyEqualsSeparateMatmuls(GgmlType type) {
        int cols = type.blockSize() == 256 ? 256 : 64;
        WeightMatrix[] ws = {
                randomMatrix(type, 40, cols, 1), randomMatrix(type, 13, cols, 2), randomMatrix(type, 72, cols, 3)};
        for (int n : new int[] {1, 3, 17, 64}) {
            float[] x = randomActivations(n, cols, 7);
            float[][] outs = new float[ws.length][];
            for (int i = 0; i < ws.length; i++) {
                outs[i] = new float[n * ws[i].rows()];
            }
            Matmul.matmulMany(pool, ws, x, n, outs);
            for (int i = 0; i < ws.length; i++) {
                assertMatches(ws[i], x, n, outs[i]);
                float[] single = new float[n * ws[i].rows()];
                Matmul.matmul(pool, ws[i], x, n, single);
                assertThat(outs[i]).containsExactly(single);
            }
        }
    }

    @Test
    void q8DecodeTilesMatchTheReferenceForOddShapes() {
        assumeTrue(Q8Tiles.supported(), "the tiled kernel needs 16 float lanes");
        // Row counts that leave 1..3 rows in the last tile; column counts of 1, 3, 8 (one full group), 9 and 25 blocks.
        int[] rowCounts = {1, 2, 3, 5, 7, 37, 64, 258};
        int[] colCounts = {32, 96, 256, 288, 800};
        for (int rows : rowCounts) {
            for (int cols : colCounts) {
                WeightMatrix plain = randomMatrix(GgmlType.Q8_0, rows, cols, rows * 7L + cols);
                WeightMatrix tiled = plain.withDecodeTiles();
                assertThat(tiled.decodeTiles()).as("tiles for [%d x %d]", rows, cols).isNotNull();
                assertThat(tiled.data()).isSameAs(plain.data());
                for (int n : new int[] {1, 2, 5, 8, 17}) {
                    float[] x = randomActivations(n, cols, n + cols);
                    float[] out = new float[n * rows + 3];
                    java.util.Arrays.fill(out, Float.NaN);
                    Matmul.matmul(pool, tiled, x, n, out);
                    assertMatches(tiled, x, n, out);
                    assertThat(out[n * rows]).as("untouched past the last row").isNaN();
                }
            }
        }
    }

    @Test
    void q8DecodeTilesConvertEveryFiniteScaleExactly() {
        assumeTrue(Q8Tiles.supported(), "the tiled kernel needs 16 float lanes");
        // One block per row, every finite f16 scale once (subnormals, both zeros, the largest), all quants 1: each
        // result is exact in any summation order, so a wrong conversion cannot hide in rounding.
        java.util.List<Short> scales = new java.util.ArrayList<>();
        for (int bits = 0; bits < 1 << 16; bits++) {
            if ((bits & 0x7C00) != 0x7C00) {
                scales.add((short) bits);
            }
        }
        int rows = scales.size();
        MemorySegment data = Arena.ofAuto().allocate(rows * 34L);
        for (int r = 0; r < rows; r++) {
            data.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 34L * r, scales.get(r));
            data.asSlice(34L * r + 2, 32).fill((byte) 1);
        }
        WeightMatrix tiled = WeightMatrix.of(GgmlType.Q8_0, rows, 32, data).withDecodeTiles();
        // x all 127: the activation's scale is 1 and its quants 127, so each result is 32 * 127 * d exactly.
        float[] x = new float[32];
        java.util.Arrays.fill(x, 127f);
        float[] out = new float[rows];
        Matmul.matmul(pool, tiled, x, 1, out);
        for (int r = 0; r < rows; r++) {
            short d = scales.get(r);
            assertThat(out[r]).as("scale 0x%04x", d & 0xFFFF).isEqualTo(4064f * Float.float16ToFloat(d));
        }
    }

    @Test
    void q8DecodeTilesDoNotOverflowAtTheExtremes() {
        assumeTrue(Q8Tiles.supported(), "the tiled kernel needs 16 float lanes");
        // Quants -128 (which GGML's quantizer never writes, but a file may hold) and 127, against activations whose
        // quants are all -127 or 127: the largest products the 16-bit lanes see, in both signs, summed in pairs.
        int rows = 37;
        int cols = 256;
        MemorySegment data = Arena.ofAuto().allocate(rows * 34L * (cols / 32));
        Random rnd = new Random(3);
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < cols / 32; b++) {
                long o = 34L * (r * (cols / 32) + b);
                data.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, o, Float.floatToFloat16(0.5f));
                for (int i = 0; i < 32; i++) {
                    data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, o + 2 + i, r % 3 == 0 ? (byte) -128
                            : r % 3 == 1 ? (byte) 127 : (byte) (rnd.nextBoolean() ? -128 : 127));
                }
            }
        }
        WeightMatrix tiled = WeightMatrix.of(GgmlType.Q8_0, rows, cols, data).withDecodeTiles();
        assertThat(tiled.decodeTiles()).isNotNull();
        for (float sign : new float[] {1f, -1f}) {
            float[] x = new float[cols];
            java.util.Arrays.fill(x, sign * 127f);
            float[] out = new float[rows];
            Matmul.matmul(pool, tiled, x, 1, out);
            assertMatches(tiled, x, 1, out);
            assertThat(out[0]).isEqualTo(sign * -128f * 127f * 0.5f * cols);
        }
    }

    @Test
    void q8ResultsDoNotDependOnTheBatchSize() {
        // The batch-1 kernel (integer lanes, when the machine has tiles) and the batched and prefill kernels (floats)
        // compute with the same rounded activations, so a token's results agree to float rounding whatever else is
        // in its batch: without the common rounding they would differ by the activations' quantization error.
        int rows = 80;
        int cols = 768;
        WeightMatrix w = randomMatrix(GgmlType.Q8_0, rows, cols, 21).withDecodeTiles();
        for (int n : new int[] {3, 8, Matmul.prefillThreshold() + 1}) {
            float[] x = randomActivations(n, cols, 5);
            float[] batch = new float[n * rows];
            Matmul.matmul(pool, w, x, n, batch);
            for (int t = 0; t < n; t++) {
                float[] one = new float[rows];
                Matmul.matmul(pool, w, java.util.Arrays.copyOfRange(x, t * cols, (t + 1) * cols), 1, one);
                for (int r = 0; r < rows; r++) {
                    assertThat(one[r]).as("n=%d token %d row %d", n, t, r)
                            .isCloseTo(batch[t * rows + r], org.assertj.core.data.Offset.offset(2e-5f * cols));
                }
            }
        }
    }

    @Test
    void q8MatrixWithAnInfOrNanScaleKeepsTheGgmlLayout() {
        for (short bad : new short[] {0x7C00, (short) 0xFC00, 0x7E00}) {
            WeightMatrix w = randomMatrix(GgmlType.Q8_0, 9, 64, 4);
            w.data().set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 5 * w.rowBytes() + 34, bad);
            assertThat(w.withDecodeTiles()).as("scale 0x%04x", bad & 0xFFFF).isSameAs(w);
        }
    }

    @Test
    void onlyQ8_0GetsDecodeTiles() {
        for (GgmlType type : GgmlType.values()) {
            WeightMatrix w = randomMatrix(type, 4, type.blockSize(), 1);
            if (type != GgmlType.Q8_0 || !Q8Tiles.supported()) {
                assertThat(w.withDecodeTiles()).as("%s", type).isSameAs(w);
            } else {
                WeightMatrix t = w.withDecodeTiles();
                assertThat(t.withDecodeTiles()).as("packing twice").isSameAs(t);
            }
        }
        WeightMatrix f32 = randomMatrix(GgmlType.F32, 4, 32, 1);
        assertThatThrownBy(() -> new WeightMatrix(GgmlType.F32, 4, 32, f32.data(), f32.data()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("decodeTiles");
    }

    @Test
    void decodersAgreeBitForBitWithTheReference() {
        Random rnd = new Random(5);
        for (GgmlType type : GgmlType.values()) {
            int cols = 512;
            int bytes = (int) type.byteSize(cols);
            MemorySegment s = Arena.ofAuto().allocate(bytes);
            for (int i = 0; i < bytes; i++) {
                s.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
            }
            // Keep scale fields finite so NaN does not hide mismatches.
            long bs = type.typeSize();
            for (long b = 0; b < bytes / bs && type.isQuantized(); b++) {
                short half = Float.floatToFloat16((float) rnd.nextGaussian());
                switch (type) {
                    case Q6_K -> s.set(Decoders.SHORT_LE, b * bs + 208, half);
                    case Q4_K -> {
                        s.set(Decoders.SHORT_LE, b * bs, half);
                        s.set(Decoders.SHORT_LE, b * bs + 2, Float.floatToFloat16((float) rnd.nextGaussian()));
                    }
                    default -> s.set(Decoders.SHORT_LE, b * bs, half);
                }
            }
            float[] expected = new float[cols];
            Quants.dequantizeRow(type, s, 0, expected, 0, cols);
            float[] actual = new float[cols + 3];
            Decoders.decode(type, s, 0, 0, cols, actual, 3);
            for (int i = 0; i < cols; i++) {
                assertThat(Float.compare(actual[3 + i], expected[i])).as("%s element %d: %s vs %s", type, i,
                        actual[3 + i], expected[i]).isZero();
            }
        }
    }

    @Test
    void validatesArguments() {
        WeightMatrix w = randomMatrix(GgmlType.Q8_0, 4, 64, 1);
        assertThatThrownBy(() -> Matmul.matmul(pool, w, new float[63], 1, new float[4]))
                .hasMessage("x.length: 63 (expected: >= n * cols = 64)");
        assertThatThrownBy(() -> Matmul.matmul(pool, w, new float[64], 1, new float[3]))
                .hasMessage("outs[0].length: 3 (expected: >= n * rows = 4)");
        assertThatThrownBy(() -> WeightMatrix.of(GgmlType.Q8_0, 4, 48, w.data()))
                .hasMessage("cols: 48 (expected: positive multiple of 32 for Q8_0)");
        assertThatThrownBy(() -> WeightMatrix.of(GgmlType.Q8_0, 5, 64, w.data()))
                .hasMessage("data: 272 bytes (expected: 340 for Q8_0 [5, 64])");
    }
}
