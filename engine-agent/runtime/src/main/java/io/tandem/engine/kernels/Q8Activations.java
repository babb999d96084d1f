package io.tandem.engine.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Activations quantized as Q8_0 before they meet Q8_0 weights, as llama.cpp does for every Q8_0 matmul (its
 * {@code vec_dot_type}): per block of 32 values, {@code d = max|x| / 127} and {@code q = round(x / d)}, rounding half
 * away from zero, so {@code |q| <= 127}. Unlike llama.cpp, {@code d} stays a float rather than being rounded to f16.
 *
 * <p>Every Q8_0 path of {@link Matmul} computes with these values, so that a sequence's results do not depend on
 * which kernel its batch size selects: the batch-1 kernel ({@link Q8Tiles}) takes them as integers ({@link #quantize}),
 * the others as floats {@code q * d} ({@link #round}).
 *
 * <p>Stateless and thread-safe.
 */
public final class Q8Activations {
    private Q8Activations() {
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final boolean VECTOR = F.length() <= 32 && 32 % F.length() == 0;

    /**
     * Quantizes {@code x[xo .. xo + cols)} ({@code cols} a multiple of 32): block {@code b}'s scale into
     * {@code xd[b]}, and its values pairwise into {@code xq[16 * b .. 16 * b + 16)}, each int holding two 16-bit
     * values, the even-indexed one in the low half.
     */
    public static void quantize(float[] x, int xo, int cols, int[] xq, float[] xd) {
        int[] q = new int[32];
        for (int b = 0; b < cols / 32; b++) {
            xd[b] = block(x, xo + 32 * b, q);
            for (int p = 0; p < 16; p++) {
                xq[16 * b + p] = (q[2 * p] & 0xFFFF) | (q[2 * p + 1] << 16);
            }
        }
    }

    /**
     * Writes {@code x[xo .. xo + cols)} rounded to its Q8_0 values, {@code q * d} per element, into
     * {@code dst[dOff ..]}; {@code cols} a multiple of 32. {@code dst} may be {@code x} itself.
     */
    public static void round(float[] x, int xo, int cols, float[] dst, int dOff) {
        int[] q = new int[32];
        for (int b = 0; b < cols / 32; b++) {
            float d = block(x, xo + 32 * b, q);
            for (int i = 0; i < 32; i++) {
                dst[dOff + 32 * b + i] = q[i] * d;
            }
        }
    }

    /** Block {@code x[o .. o + 32)}'s values into {@code q[0 .. 32)}; returns its scale. */
    static float block(float[] x, int o, int[] q) {
        float amax = 0;
        if (VECTOR) {
            FloatVector m = FloatVector.zero(F);
            for (int i = 0; i < 32; i += F.length()) {
                m = m.max(FloatVector.fromArray(F, x, o + i).abs());
            }
            amax = m.reduceLanes(VectorOperators.MAX);
        } else {
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(x[o + i]));
            }
        }
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        if (VECTOR) {
            for (int i = 0; i < 32; i += F.length()) {
                FloatVector v = FloatVector.fromArray(F, x, o + i).mul(id);
                IntVector r = (IntVector) v.abs().add(0.5f).convert(VectorOperators.F2I, 0);
                VectorMask<Integer> neg = v.lt(0f).cast(I);
                r.lanewise(VectorOperators.NEG, neg).intoArray(q, i);
            }
        } else {
            for (int i = 0; i < 32; i++) {
                q[i] = roundHalfAway(x[o + i] * id);
            }
        }
        return d;
    }

    /** {@code v} rounded half away from zero, as C's {@code roundf}, computed as the vector path does. */
    static int roundHalfAway(float v) {
        int r = (int) (Math.abs(v) + 0.5f);
        return v < 0f ? -r : r;
    }
}
