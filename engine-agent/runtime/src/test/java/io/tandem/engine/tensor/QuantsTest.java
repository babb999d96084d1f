package io.tandem.engine.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class QuantsTest {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static MemorySegment seg(int bytes) {
        return Arena.ofAuto().allocate(bytes);
    }

    private static float[] dequant(GgmlType type, MemorySegment s, int n) {
        float[] out = new float[n];
        Quants.dequantizeRow(type, s, 0, out, 0, n);
        return out;
    }

    @Test
    void q8_0HandBuiltBlock() {
        MemorySegment s = seg(34);
        s.set(SHORT_LE, 0, (short) 0x3800); // 0.5
        for (int j = 0; j < 32; j++) {
            s.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) (j * 8 - 128)); // -128 .. 120
        }
        float[] y = dequant(GgmlType.Q8_0, s, 32);
        for (int j = 0; j < 32; j++) {
            assertThat(y[j]).as("element %d", j).isEqualTo(0.5f * (j * 8 - 128));
        }
    }

    @Test
    void q4_0HandBuiltBlock() {
        MemorySegment s = seg(18);
        s.set(SHORT_LE, 0, (short) 0x4000); // 2.0
        for (int j = 0; j < 16; j++) {
            s.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) (j | (15 - j) << 4));
        }
        float[] y = dequant(GgmlType.Q4_0, s, 32);
        for (int j = 0; j < 16; j++) {
            assertThat(y[j]).as("low nibble %d", j).isEqualTo(2f * (j - 8));
            assertThat(y[j + 16]).as("high nibble %d", j).isEqualTo(2f * (15 - j - 8));
        }
    }

    @Test
    void q4_KHandBuiltBlockPacksScalesAndMinsOfBothHalves() {
        int[] sc = {1, 2, 3, 4, 33, 45, 63, 17};
        int[] mn = {0, 5, 10, 15, 20, 40, 63, 1};
        MemorySegment s = seg(144);
        s.set(SHORT_LE, 0, (short) 0x3C00); // d = 1
        s.set(SHORT_LE, 2, (short) 0x3800); // dmin = 0.5
        // The packing written out independently of get_scale_min_k4: bytes 0-3 hold the low 6 bits of the scales of
        // sub-blocks 0-3 and the top 2 bits of the scales of 4-7; bytes 4-7 the same for mins; bytes 8-11 hold the low
        // nibbles of scale (low) and min (high) of sub-blocks 4-7.
        for (int j = 0; j < 4; j++) {
            s.set(ValueLayout.JAVA_BYTE, 4 + j, (byte) (sc[j] | (sc[j + 4] >> 4) << 6));
            s.set(ValueLayout.JAVA_BYTE, 4 + j + 4, (byte) (mn[j] | (mn[j + 4] >> 4) << 6));
            s.set(ValueLayout.JAVA_BYTE, 4 + j + 8, (byte) ((sc[j + 4] & 0xF) | (mn[j + 4] & 0xF) << 4));
        }
        Random rnd = new Random(1);
        int[] qs = new int[128];
        for (int i = 0; i < 128; i++) {
            qs[i] = rnd.nextInt(256);
            s.set(ValueLayout.JAVA_BYTE, 16 + i, (byte) qs[i]);
        }
        float[] y = dequant(GgmlType.Q4_K, s, 256);
        for (int sb = 0; sb < 8; sb++) {
            for (int l = 0; l < 32; l++) {
                int q = qs[32 * (sb / 2) + l];
                int nib = sb % 2 == 0 ? q & 0xF : q >> 4;
                float expected = (1f * sc[sb]) * nib - (0.5f * mn[sb]);
                assertThat(y[32 * sb + l]).as("sub-block %d element %d", sb, l).isEqualTo(expected);
            }
        }
        for (int j = 0; j < 8; j++) {
            int sm = Quants.scaleMinK4(j, s, 4);
            assertThat(sm & 0xFF).as("scale %d", j).isEqualTo(sc[j]);
            assertThat(sm >>> 8).as("min %d", j).isEqualTo(mn[j]);
        }
    }

    @Test
    void q6_KHandBuiltBlockWithNegativeScalesAndValues() {
        MemorySegment s = seg(210);
        s.set(SHORT_LE, 208, (short) 0x3400); // d = 0.25
        int[] scales = new int[16];
        for (int i = 0; i < 16; i++) {
            scales[i] = (i % 2 == 0 ? -1 : 1) * (i * 8 + 1); // -1, 9, -17, ... includes -121
            s.set(ValueLayout.JAVA_BYTE, 192 + i, (byte) scales[i]);
        }
        int[] q = new int[256];
        Random rnd = new Random(2);
        for (int e = 0; e < 256; e++) {
            q[e] = rnd.nextInt(64); // stored value; the element is q - 32, so half are negative
            int h = e / 128;
            int i = e % 128;
            int k = i / 32;
            int l = i % 32;
            long qlOff = h * 64 + l + (k % 2 == 1 ? 32 : 0);
            int lo = s.get(ValueLayout.JAVA_BYTE, qlOff) & 0xFF;
            lo |= k < 2 ? (q[e] & 0xF) : (q[e] & 0xF) << 4;
            s.set(ValueLayout.JAVA_BYTE, qlOff, (byte) lo);
            long qhOff = 128 + h * 32 + l;
            int hi = s.get(ValueLayout.JAVA_BYTE, qhOff) & 0xFF;
            hi |= (q[e] >> 4) << (2 * k);
            s.set(ValueLayout.JAVA_BYTE, qhOff, (byte) hi);
        }
        float[] y = dequant(GgmlType.Q6_K, s, 256);
        for (int e = 0; e < 256; e++) {
            int sub = e / 16; // 16 sub-blocks of 16 elements in order
            float expected = (0.25f * scales[sub]) * (q[e] - 32);
            assertThat(y[e]).as("element %d", e).isEqualTo(expected);
        }
        assertThat(y[0] < 0 || y[1] < 0 || y[2] < 0 || y[3] < 0).isTrue();
        assertThat(q).contains(0, 63);
    }

    @Test
    void floatTypesHandBuilt() {
        MemorySegment s = seg(8);
        s.set(SHORT_LE, 0, (short) 0xC200); // f16 -3.0
        s.set(SHORT_LE, 2, (short) 0x0001); // smallest f16 subnormal
        assertThat(dequant(GgmlType.F16, s, 2)).containsExactly(-3f, 0x1p-24f);
        s.set(SHORT_LE, 0, (short) 0x3FC0); // bf16 1.5
        s.set(SHORT_LE, 2, (short) 0xC020); // bf16 -2.5
        assertThat(dequant(GgmlType.BF16, s, 2)).containsExactly(1.5f, -2.5f);
        s.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, Float.floatToIntBits(7.25f));
        assertThat(dequant(GgmlType.F32, s, 1)).containsExactly(7.25f);
    }

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between bf16 1 and 1 + 2^-7: ties to the even mantissa (1.0).
        assertThat(Quants.floatToBf16(1f + 0x1p-8f)).isEqualTo((short) 0x3F80);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
        assertThat(Quants.floatToBf16(1f + 3 * 0x1p-8f)).isEqualTo((short) 0x3F82);
        assertThat(Quants.floatToBf16(1f + 0x1p-8f + 0x1p-20f)).isEqualTo((short) 0x3F81);
        assertThat(Float.isNaN(Quants.bf16ToFloat(Quants.floatToBf16(Float.NaN)))).isTrue();
    }

    @Test
    void q8_0QuantizesLikeGgml() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = (j - 16) * 0.25f; // amax 4 at j = 0
        }
        MemorySegment s = seg(34);
        Quants.quantizeRow(GgmlType.Q8_0, x, 0, 32, s, 0);
        assertThat(s.get(SHORT_LE, 0)).isEqualTo(Float.floatToFloat16(4f / 127f));
        float id = 1f / (4f / 127f);
        for (int j = 0; j < 32; j++) {
            // roundf: halves away from zero
            int expected = (int) Math.signum(x[j] * id) * (int) Math.floor(Math.abs(x[j] * id) + 0.5);
            assertThat(s.get(ValueLayout.JAVA_BYTE, 2 + j)).as("q %d", j).isEqualTo((byte) expected);
        }
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void quantizeThenDequantizeStaysWithinTheTypesErrorBound(GgmlType type) {
        Random rnd = new Random(42 + type.ordinal());
        int n = 4 * 256;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian() * (i < 256 ? 0.01f : 1f); // one block of small values
        }
        MemorySegment s = seg((int) type.byteSize(n));
        Quants.quantizeRow(type, x, 0, n, s, 0);
        float[] y = dequant(type, s, n);
        double errSq = 0;
        double sumSq = 0;
        for (int blk = 0; blk < n / 32; blk++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[32 * blk + j]));
            }
            for (int j = 0; j < 32; j++) {
                int i = 32 * blk + j;
                float err = Math.abs(y[i] - x[i]);
                errSq += (double) err * err;
                sumSq += (double) x[i] * x[i];
                switch (type) {
                    case F32 -> assertThat(y[i]).isEqualTo(x[i]);
                    case F16 -> assertThat(err).isLessThanOrEqualTo(Math.abs(x[i]) * 0x1p-11f + 0x1p-25f);
                    case BF16 -> assertThat(err).isLessThanOrEqualTo(Math.abs(x[i]) * 0x1p-8f);
                    // Half a quantization step, plus the f16 rounding of the scale.
                    case Q8_0 -> assertThat(err).isLessThanOrEqualTo(amax / 127f * 0.5f + amax * 0x1p-10f);
                    // The positive extreme clamps from 16 to 15: one full step (amax / 8).
                    case Q4_0 -> assertThat(err).isLessThanOrEqualTo(amax / 8f * 1.01f);
                    case Q4_K -> assertThat(err).isLessThanOrEqualTo(amax / 7f);
                    case Q6_K -> assertThat(err).isLessThanOrEqualTo(amax / 31f * 1.2f);
                }
            }
        }
        double relRms = Math.sqrt(errSq / sumSq);
        double bound = switch (type) {
            case F32 -> 0;
            case F16 -> 0x1p-11;
            case BF16 -> 0x1p-8;
            case Q8_0 -> 0.006;
            case Q4_0 -> 0.12;
            case Q4_K -> 0.1;
            case Q6_K -> 0.025;
        };
        assertThat(relRms).as("relative RMS error of %s", type).isLessThanOrEqualTo(bound);
    }

    @Test
    void q6_KAllZeroBlockQuantizesToZeros() {
        MemorySegment s = seg(210);
        s.fill((byte) 0x55);
        Quants.quantizeRow(GgmlType.Q6_K, new float[256], 0, 256, s, 0);
        for (float v : dequant(GgmlType.Q6_K, s, 256)) {
            assertThat(v == 0f).as("%s is zero", v).isTrue(); // d = 0 times (q - 32) < 0 gives -0, as in ggml
        }
    }

    @Test
    void rejectsPartialBlocks() {
        assertThatThrownBy(() -> Quants.dequantizeRow(GgmlType.Q4_K, seg(144), 0, new float[300], 0, 100))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("n: 100 (expected: non-negative multiple of 256 for Q4_K)");
    }
}
