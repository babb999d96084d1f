package io.tandem.engine.kernels;

import static io.tandem.engine.kernels.Decoders.F;
import static io.tandem.engine.kernels.Decoders.FLOAT_LE;
import static io.tandem.engine.kernels.Decoders.L;
import static io.tandem.engine.kernels.Decoders.LE;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vectorized element-wise and reduction helpers for the forward pass, on heap float arrays and on the off-heap F32
 * KV cache. Every method handles lengths that are not a multiple of the vector width (scalar tail).
 *
 * <p>Reductions accumulate in float across vector lanes, so they differ from a sequential sum by rounding only.
 * Stateless and thread-safe; no method allocates (beyond what C2 scalar-replaces).
 */
public final class VectorOps {
    private VectorOps() {
    }

    /** {@code sum_i a[aOff + i] * b[bOff + i]} for {@code i < n}. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        int i = 0;
        // Two accumulators hide the FMA latency.
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
            s1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), s1);
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
        }
        float s = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    /** {@code sum_i q[qOff + i] * k[kByteOff + 4i]} with k little-endian F32 off-heap (a KV cache row). */
    public static float dot(float[] q, int qOff, MemorySegment k, long kByteOff, int n) {
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            s0 = FloatVector.fromMemorySegment(F, k, kByteOff + 4L * i, LE)
                    .fma(FloatVector.fromArray(F, q, qOff + i), s0);
            s1 = FloatVector.fromMemorySegment(F, k, kByteOff + 4L * (i + L), LE)
                    .fma(FloatVector.fromArray(F, q, qOff + i + L), s1);
        }
        for (int bound = F.loopBound(n); i < bound; i += L) {
            s0 = FloatVector.fromMemorySegment(F, k, kByteOff + 4L * i, LE)
                    .fma(FloatVector.fromArray(F, q, qOff + i), s0);
        }
        float s = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += q[qOff + i] * k.get(FLOAT_LE, kByteOff + 4L * i);
        }
        return s;
    }

    /** {@code out[outOff + i] += alpha * v[vByteOff + 4i]} with v little-endian F32 off-heap (a KV cache row). */
    public static void axpy(float alpha, MemorySegment v, long vByteOff, float[] out, int outOff, int n) {
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector.fromMemorySegment(F, v, vByteOff + 4L * i, LE)
                    .fma(a, FloatVector.fromArray(F, out, outOff + i))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] += alpha * v.get(FLOAT_LE, vByteOff + 4L * i);
        }
    }

    /** {@code out[outOff + i] += alpha * v[vOff + i]} on heap arrays. */
    public static void axpy(float alpha, float[] v, int vOff, float[] out, int outOff, int n) {
        FloatVector a = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(F, v, vOff + i)
                    .fma(a, FloatVector.fromArray(F, out, outOff + i))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] += alpha * v[vOff + i];
        }
    }

    /**
     * RMS normalization: {@code out[outOff + i] = x[xOff + i] * weight[i] / sqrt(mean(x^2) + eps)}. {@code out} may
     * alias {@code x} at the same offset.
     */
    public static void rmsnorm(float[] out, int outOff, float[] x, int xOff, float[] weight, int n, float eps) {
        float ss = dot(x, xOff, x, xOff, n);
        float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(F, x, xOff + i).mul(scale).mul(FloatVector.fromArray(F, weight, i))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = x[xOff + i] * scale * weight[i];
        }
    }

    /** SwiGLU in place: {@code gate[off + i] = silu(gate[off + i]) * up[off + i]}, silu(g) = g / (1 + e^-g). */
    public static void siluMul(float[] gate, float[] up, int off, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector g = FloatVector.fromArray(F, gate, off + i);
            FloatVector sig = g.neg().lanewise(VectorOperators.EXP).add(1f);
            g.div(sig).mul(FloatVector.fromArray(F, up, off + i)).intoArray(gate, off + i);
        }
        for (; i < n; i++) {
            float g = gate[off + i];
            gate[off + i] = g / (1f + (float) Math.exp(-g)) * up[off + i];
        }
    }

    /** {@code dst[dOff + i] += src[sOff + i]}. */
    public static void add(float[] dst, int dOff, float[] src, int sOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(F, dst, dOff + i).add(FloatVector.fromArray(F, src, sOff + i))
                    .intoArray(dst, dOff + i);
        }
        for (; i < n; i++) {
            dst[dOff + i] += src[sOff + i];
        }
    }

    /** {@code x[off + i] *= s}. */
    public static void scale(float[] x, int off, int n, float s) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(F, x, off + i).mul(s).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= s;
        }
    }

    /** Numerically stable softmax in place over {@code x[off .. off+n)}; n must be >= 1. */
    public static void softmax(float[] x, int off, int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n: " + n + " (expected: >= 1)");
        }
        float max = max(x, off, n);
        FloatVector sum = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector e = FloatVector.fromArray(F, x, off + i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            sum = sum.add(e);
        }
        float s = sum.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            s += e;
        }
        scale(x, off, n, 1f / s);
    }

    /** Largest of {@code x[off .. off+n)}; n must be >= 1. */
    public static float max(float[] x, int off, int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n: " + n + " (expected: >= 1)");
        }
        float m = Float.NEGATIVE_INFINITY;
        int i = 0;
        int bound = F.loopBound(n);
        if (bound > 0) {
            FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (; i < bound; i += L) {
                mv = mv.max(FloatVector.fromArray(F, x, off + i));
            }
            m = mv.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) {
            m = Math.max(m, x[off + i]);
        }
        return m;
    }

    /** Index (relative to off) of the largest of {@code x[off .. off+n)}, the first one on ties; n must be >= 1. */
    public static int argmax(float[] x, int off, int n) {
        float m = max(x, off, n);
        for (int i = 0; i < n; i++) {
            if (x[off + i] == m) {
                return i;
            }
        }
        // Only NaNs (max is NaN then, and NaN != NaN): report the first element.
        return 0;
    }
}
