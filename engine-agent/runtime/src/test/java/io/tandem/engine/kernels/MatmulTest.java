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

    /** float64 reference from the scalar decoder, and the tolerance each element gets. */
    static void assertMatches(WeightMatrix w, float[] x, int n, float[] out) {
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
                for (int n : new int[] {1, 2, 17}) {
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
        // One block per row, every finite f16 scale once (subnormals, both zeros, the largest), all quants 1 and x all
        // 1: each result is 32 * d, exact in any summation order, so a wrong conversion cannot hide in rounding.
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
        float[] x = new float[32];
        java.util.Arrays.fill(x, 1f);
        float[] out = new float[rows];
        Matmul.matmul(pool, tiled, x, 1, out);
        for (int r = 0; r < rows; r++) {
            short d = scales.get(r);
            assertThat(out[r]).as("scale 0x%04x", d & 0xFFFF).isEqualTo(32f * Float.float16ToFloat(d));
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
