package io.tandem.engine.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class Q8ActivationsTest {

    @Test
    void quantizesEachBlockToItsLargestMagnitude() {
        Random rnd = new Random(7);
        int cols = 128;
        float[] x = new float[3 + cols];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextGaussian() * (1 + i / 32));
        }
        x[3 + 41] = -9.5f; // block 1's largest magnitude, negative, its value 9: pair 4, high half
        int[] xq = new int[cols / 2];
        float[] xd = new float[cols / 32];
        Q8Activations.quantize(x, 3, cols, xq, xd);
        for (int b = 0; b < cols / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(x[3 + 32 * b + i]));
            }
            assertThat(xd[b]).as("scale of block %d", b).isEqualTo(amax / 127f);
            for (int i = 0; i < 32; i++) {
                int packed = xq[16 * b + i / 2];
                int q = i % 2 == 0 ? (short) packed : packed >> 16;
                assertThat(Math.abs(q)).isLessThanOrEqualTo(127);
                float v = x[3 + 32 * b + i];
                assertThat((double) q * xd[b]).as("block %d value %d", b, i)
                        .isCloseTo(v, org.assertj.core.data.Offset.offset(0.5 * xd[b] * 1.0001));
                if (Math.abs(v) == amax) {
                    assertThat(q).isEqualTo(v < 0 ? -127 : 127);
                }
            }
        }
        assertThat(xq[16 + 4] >> 16).as("x[3 + 41] in pair 4's high half").isEqualTo(-127);
    }

    @Test
    void roundsHalfAwayFromZero() {
        // d = 1 exactly (the block's largest magnitude is 127), so x / d is x itself.
        float[] x = new float[32];
        float[] halves = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 126.5f, -126.49f, 0.49f};
        System.arraycopy(halves, 0, x, 0, halves.length);
        x[31] = 127f;
        float[] r = new float[32];
        Q8Activations.round(x, 0, 32, r, 0);
        assertThat(java.util.Arrays.copyOf(r, halves.length))
                .containsExactly(1f, -1f, 2f, -2f, 3f, -3f, 127f, -126f, 0f);
        assertThat(r[31]).isEqualTo(127f);
    }

    @Test
    void roundAgreesWithQuantizeAndMayWriteInPlace() {
        Random rnd = new Random(9);
        float[] x = new float[256];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian() * 3;
        }
        int[] xq = new int[128];
        float[] xd = new float[8];
        Q8Activations.quantize(x, 0, 256, xq, xd);
        float[] inPlace = x.clone();
        Q8Activations.round(inPlace, 0, 256, inPlace, 0);
        for (int i = 0; i < 256; i++) {
            int packed = xq[i / 2];
            int q = i % 2 == 0 ? (short) packed : packed >> 16;
            assertThat(inPlace[i]).as("value %d", i).isEqualTo(q * xd[i / 32]);
        }
    }

    @Test
    void zeroBlocksHaveScaleZeroAndNanPropagates() {
        float[] x = new float[64];
        x[40] = Float.NaN;
        x[41] = 3f;
        int[] xq = new int[32];
        float[] xd = new float[2];
        Q8Activations.quantize(x, 0, 64, xq, xd);
        assertThat(xd[0]).isZero();
        assertThat(java.util.Arrays.copyOf(xq, 16)).containsOnly(0);
        assertThat(xd[1]).as("a NaN makes the block's scale NaN, so the products are NaN").isNaN();
        for (int q : java.util.Arrays.copyOfRange(xq, 16, 32)) {
            assertThat(Math.abs((short) q)).isLessThanOrEqualTo(127);
            assertThat(Math.abs(q >> 16)).isLessThanOrEqualTo(127);
        }
    }
}
