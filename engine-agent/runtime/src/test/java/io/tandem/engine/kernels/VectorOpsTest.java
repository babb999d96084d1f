package io.tandem.engine.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VectorOpsTest {

    private static float[] random(int n, long seed) {
        Random rnd = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    private static MemorySegment offHeap(float[] a, int padFloats) {
        MemorySegment s = Arena.ofAuto().allocate(4L * (a.length + padFloats));
        for (int i = 0; i < a.length; i++) {
            s.set(Decoders.FLOAT_LE, 4L * (i + padFloats), a[i]);
        }
        return s;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 15, 16, 17, 31, 32, 33, 100, 768})
    void matchesScalar(int n) {
        int off = 3;
        float[] a = random(n + off, n);
        float[] b = random(n + off, n + 1);
        double dot = 0;
        double abs = 0;
        for (int i = 0; i < n; i++) {
            dot += (double) a[off + i] * b[off + i];
            abs += Math.abs((double) a[off + i] * b[off + i]);
        }
        double tol = 1e-6 * abs + 1e-6;
        assertThat((double) VectorOps.dot(a, off, b, off, n)).isCloseTo(dot, offset(tol));
        MemorySegment k = offHeap(java.util.Arrays.copyOfRange(b, off, off + n), 2);
        assertThat((double) VectorOps.dot(a, off, k, 8, n)).isCloseTo(dot, offset(tol));

        float[] out = random(n + off, 9);
        float[] expected = out.clone();
        for (int i = 0; i < n; i++) {
            expected[off + i] += 0.75f * b[off + i];
        }
        VectorOps.axpy(0.75f, k, 8, out, off, n);
        assertThat(out).containsExactly(expected, org.assertj.core.data.Offset.offset(1e-6f));

        float[] w = random(n, 11);
        float[] norm = new float[n + off];
        VectorOps.rmsnorm(norm, off, a, off, w, n, 1e-5f);
        double ss = 0;
        for (int i = 0; i < n; i++) {
            ss += (double) a[off + i] * a[off + i];
        }
        double inv = 1 / Math.sqrt(ss / n + 1e-5);
        for (int i = 0; i < n; i++) {
            assertThat((double) norm[off + i]).isCloseTo(a[off + i] * inv * w[i], offset(1e-5 * (1 + Math.abs(w[i]))));
        }

        float[] gate = a.clone();
        VectorOps.siluMul(gate, b, off, n);
        for (int i = 0; i < n; i++) {
            double g = a[off + i];
            double e = g / (1 + Math.exp(-g)) * b[off + i];
            assertThat((double) gate[off + i]).isCloseTo(e, offset(1e-5 * (1 + Math.abs(e))));
        }
        assertThat(gate[0]).isEqualTo(a[0]);

        float[] sum = a.clone();
        VectorOps.add(sum, off, b, off, n);
        float[] scaled = a.clone();
        VectorOps.scale(scaled, off, n, -2f);
        for (int i = 0; i < n; i++) {
            assertThat(sum[off + i]).isEqualTo(a[off + i] + b[off + i]);
            assertThat(scaled[off + i]).isEqualTo(a[off + i] * -2f);
        }

        float[] sm = a.clone();
        VectorOps.softmax(sm, off, n);
        double max = Double.NEGATIVE_INFINITY;
        int arg = -1;
        for (int i = 0; i < n; i++) {
            if (a[off + i] > max) {
                max = a[off + i];
                arg = i;
            }
        }
        double z = 0;
        for (int i = 0; i < n; i++) {
            z += Math.exp(a[off + i] - max);
        }
        for (int i = 0; i < n; i++) {
            assertThat((double) sm[off + i]).isCloseTo(Math.exp(a[off + i] - max) / z, offset(1e-6));
        }
        assertThat(VectorOps.argmax(a, off, n)).isEqualTo(arg);
        assertThat(VectorOps.max(a, off, n)).isEqualTo((float) max);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 17, 40})
    void argmaxPrefersTheFirstOfEqualMaxima(int n) {
        float[] x = new float[n + 2];
        x[n] = 5f;
        x[n + 1] = 5f;
        assertThat(VectorOps.argmax(x, 1, n + 1)).isEqualTo(n - 1);
    }
}
