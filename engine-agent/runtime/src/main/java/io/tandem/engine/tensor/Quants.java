package io.tandem.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Scalar reference quantizers and dequantizers for every {@link GgmlType}, transcribed from ggml's
 * {@code ggml-quants.c} so that the bytes we write and the floats we read agree bit for bit with llama.cpp.
 *
 * <p>This is the reference, not the fast path: the matmul kernels in {@code io.tandem.engine.kernels} have their own
 * vectorized decoders and are tested against this class. Simple loops in {@code float} arithmetic in the same order
 * as the C code are deliberate: reordering (or fusing into FMA) would change rounding and break bit-exactness.
 *
 * <p>Block layouts (little-endian, {@code f16} = IEEE half):
 * <ul>
 *   <li>Q8_0, 32 elements, 34 bytes: {@code f16 d; i8 qs[32]}; {@code x[j] = d * qs[j]}.</li>
 *   <li>Q4_0, 32 elements, 18 bytes: {@code f16 d; u8 qs[16]}; {@code x[j] = d * ((qs[j] & 0xF) - 8)},
 *       {@code x[j + 16] = d * ((qs[j] >> 4) - 8)}.</li>
 *   <li>Q4_K, 256 elements, 144 bytes: {@code f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}; eight sub-blocks of 32
 *       with 6-bit scale {@code sc} and min {@code m}: {@code x = d * sc * q - dmin * m}.</li>
 *   <li>Q6_K, 256 elements, 210 bytes: {@code u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}; sixteen sub-blocks of
 *       16 with {@code x = d * scales[s] * (q - 32)}, {@code q} six bits split over ql (low 4) and qh (high 2).</li>
 * </ul>
 *
 * <p>Stateless and thread-safe; the quantizers allocate small scratch arrays per call.
 */
public final class Quants {
    private Quants() {
    }

    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** ggml's GROUP_MAX_EPS: groups whose largest magnitude is below this quantize to all zeros. */
    private static final float GROUP_MAX_EPS = 1e-15f;

    /**
     * Quantizes {@code n} floats {@code src[srcOff .. srcOff+n)} into {@code type.byteSize(n)} bytes at
     * {@code dst[dstOff ..)}.
     *
     * @throws IllegalArgumentException if {@code n} is not a multiple of the type's block size
     */
    public static void quantizeRow(GgmlType type, float[] src, int srcOff, int n, MemorySegment dst, long dstOff) {
        Objects.requireNonNull(type, "type");
        checkRange(type, src.length, srcOff, n, dst, dstOff);
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(FLOAT_LE, dstOff + 4L * i, src[srcOff + i]);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(SHORT_LE, dstOff + 2L * i, Float.floatToFloat16(src[srcOff + i]));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    dst.set(SHORT_LE, dstOff + 2L * i, floatToBf16(src[srcOff + i]));
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    quantizeBlockQ8_0(src, srcOff + 32 * b, dst, dstOff + 34L * b);
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    quantizeBlockQ4_0(src, srcOff + 32 * b, dst, dstOff + 18L * b);
                }
            }
            case Q4_K -> {
                for (int b = 0; b < n / 256; b++) {
                    quantizeBlockQ4_K(src, srcOff + 256 * b, dst, dstOff + 144L * b);
                }
            }
            case Q6_K -> {
                for (int b = 0; b < n / 256; b++) {
                    quantizeBlockQ6_K(src, srcOff + 256 * b, dst, dstOff + 210L * b);
                }
            }
        }
    }

    /**
     * Decodes {@code n} elements stored at {@code src[srcOff ..)} into {@code dst[dstOff .. dstOff+n)}.
     *
     * @throws IllegalArgumentException if {@code n} is not a multiple of the type's block size
     */
    public static void dequantizeRow(GgmlType type, MemorySegment src, long srcOff, float[] dst, int dstOff, int n) {
        Objects.requireNonNull(type, "type");
        checkRange(type, dst.length, dstOff, n, src, srcOff);
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    dst[dstOff + i] = src.get(FLOAT_LE, srcOff + 4L * i);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst[dstOff + i] = Float.float16ToFloat(src.get(SHORT_LE, srcOff + 2L * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    dst[dstOff + i] = bf16ToFloat(src.get(SHORT_LE, srcOff + 2L * i));
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    long o = srcOff + 34L * b;
                    float d = f16(src, o);
                    for (int j = 0; j < 32; j++) {
                        dst[dstOff + 32 * b + j] = src.get(ValueLayout.JAVA_BYTE, o + 2 + j) * d;
                    }
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    long o = srcOff + 18L * b;
                    float d = f16(src, o);
                    int y = dstOff + 32 * b;
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, o + 2 + j) & 0xFF;
                        dst[y + j] = ((q & 0x0F) - 8) * d;
                        dst[y + j + 16] = ((q >>> 4) - 8) * d;
                    }
                }
            }
            case Q4_K -> {
                for (int b = 0; b < n / 256; b++) {
                    dequantizeBlockQ4_K(src, srcOff + 144L * b, dst, dstOff + 256 * b);
                }
            }
            case Q6_K -> {
                for (int b = 0; b < n / 256; b++) {
                    dequantizeBlockQ6_K(src, srcOff + 210L * b, dst, dstOff + 256 * b);
                }
            }
        }
    }

    // ---- bf16 / f16 helpers ------------------------------------------------------------------------------------

    /** bf16 is the upper half of an f32, so widening is a shift. */
    public static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /** ggml_compute_fp32_to_bf16: round to nearest even; NaNs stay NaN (quiet bit forced). */
    public static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((u >>> 16) | 64);
        }
        return (short) ((u + (0x7FFF + ((u >>> 16) & 1))) >>> 16);
    }

    static float f16(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(SHORT_LE, off));
    }

    /**
     * ggml's nearest_int: adds 1.5 * 2^23 and reads the mantissa, i.e. round half to even for |x| < 2^22. Math.rint
     * rounds the same way.
     */
    private static int nearestInt(float x) {
        return (int) Math.rint(x);
    }

    /** C roundf: half away from zero. Done in double so that {@code a + 0.5} cannot round up. */
    private static int roundf(float x) {
        double r = Math.floor(Math.abs((double) x) + 0.5);
        return (int) (x < 0 ? -r : r);
    }

    // ---- Q8_0 / Q4_0 -------------------------------------------------------------------------------------------

    private static void quantizeBlockQ8_0(float[] x, int xo, MemorySegment y, long yo) {
        float amax = 0f;
        for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(x[xo + j]));
        }
        float d = amax / 127f;
        float id = d != 0f ? 1.0f / d : 0.0f;
        y.set(SHORT_LE, yo, Float.floatToFloat16(d));
        for (int j = 0; j < 32; j++) {
            y.set(ValueLayout.JAVA_BYTE, yo + 2 + j, (byte) roundf(x[xo + j] * id));
        }
    }

    private static void quantizeBlockQ4_0(float[] x, int xo, MemorySegment y, long yo) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < 32; j++) {
            float v = x[xo + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0f ? 1.0f / d : 0.0f;
        y.set(SHORT_LE, yo, Float.floatToFloat16(d));
        for (int j = 0; j < 16; j++) {
            float x0 = x[xo + j] * id;
            float x1 = x[xo + 16 + j] * id;
            // (int8_t) truncates toward zero; x*id + 8.5 is in [0.5, 16.5] so the cast never goes negative.
            int xi0 = Math.min(15, (int) (x0 + 8.5f));
            int xi1 = Math.min(15, (int) (x1 + 8.5f));
            y.set(ValueLayout.JAVA_BYTE, yo + 2 + j, (byte) (xi0 | (xi1 << 4)));
        }
    }

    // ---- Q4_K --------------------------------------------------------------------------------------------------

    /**
     * ggml's get_scale_min_k4: sub-blocks 0-3 keep scale and min in the low 6 bits of bytes j and j+4; sub-blocks
     * 4-7 keep their low 4 bits in the nibbles of byte j+4 and their top 2 bits in the top bits of bytes j-4 (scale)
     * and j (min). Returns {@code scale | min << 8}.
     */
    static int scaleMinK4(int j, MemorySegment s, long scalesOff) {
        int sc;
        int m;
        if (j < 4) {
            sc = b(s, scalesOff + j) & 63;
            m = b(s, scalesOff + j + 4) & 63;
        } else {
            sc = (b(s, scalesOff + j + 4) & 0xF) | ((b(s, scalesOff + j - 4) >>> 6) << 4);
            m = (b(s, scalesOff + j + 4) >>> 4) | ((b(s, scalesOff + j) >>> 6) << 4);
        }
        return sc | m << 8;
    }

    private static int b(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    private static void dequantizeBlockQ4_K(MemorySegment x, long xo, float[] y, int yo) {
        float d = f16(x, xo);
        float min = f16(x, xo + 2);
        long scales = xo + 4;
        long q = xo + 16;
        int is = 0;
        for (int j = 0; j < 256; j += 64) {
            int sm1 = scaleMinK4(is, x, scales);
            float d1 = d * (sm1 & 0xFF);
            float m1 = min * (sm1 >>> 8);
            int sm2 = scaleMinK4(is + 1, x, scales);
            float d2 = d * (sm2 & 0xFF);
            float m2 = min * (sm2 >>> 8);
            for (int l = 0; l < 32; l++) {
                y[yo + j + l] = d1 * (b(x, q + l) & 0xF) - m1;
            }
            for (int l = 0; l < 32; l++) {
                y[yo + j + 32 + l] = d2 * (b(x, q + l) >>> 4) - m2;
            }
            q += 32;
            is += 2;
        }
    }

    private static void quantizeBlockQ4_K(float[] x, int xo, MemorySegment y, long yo) {
        int[] lq = new int[256];
        int[] laux = new int[32];
        float[] weights = new float[32];
        float[] mins = new float[8];
        float[] scales = new float[8];
        float maxScale = 0f;
        float maxMin = 0f;
        for (int j = 0; j < 8; j++) {
            float sumX2 = 0f;
            for (int l = 0; l < 32; l++) {
                float v = x[xo + 32 * j + l];
                sumX2 += v * v;
            }
            float avX = (float) Math.sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) {
                weights[l] = avX + Math.abs(x[xo + 32 * j + l]);
            }
            float[] theMin = new float[1];
            scales[j] = makeQkx2Quants(32, 15, x, xo + 32 * j, weights, lq, 32 * j, theMin, laux, -1f, 0.1f, 20);
            mins[j] = theMin[0];
            if (scales[j] > maxScale) {
                maxScale = scales[j];
            }
            if (mins[j] > maxMin) {
                maxMin = mins[j];
            }
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        byte[] sc = new byte[12];
        for (int j = 0; j < 8; j++) {
            // uint8_t conversion in C; values are in [0, 63] after the clamp.
            int ls = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
            int lm = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                sc[j] = (byte) ls;
                sc[j + 4] = (byte) lm;
            } else {
                sc[j + 4] = (byte) ((ls & 0xF) | ((lm & 0xF) << 4));
                sc[j - 4] |= (byte) ((ls >> 4) << 6);
                sc[j] |= (byte) ((lm >> 4) << 6);
            }
        }
        short dBits = Float.floatToFloat16(maxScale / 63f);
        short dminBits = Float.floatToFloat16(maxMin / 63f);
        y.set(SHORT_LE, yo, dBits);
        y.set(SHORT_LE, yo + 2, dminBits);
        MemorySegment.copy(sc, 0, y, ValueLayout.JAVA_BYTE, yo + 4, 12);
        float dAll = Float.float16ToFloat(dBits);
        float dminAll = Float.float16ToFloat(dminBits);
        for (int j = 0; j < 8; j++) {
            int sm = scaleMinK4(j, y, yo + 4);
            float d = dAll * (sm & 0xFF);
            if (d == 0f) {
                continue;
            }
            float dm = dminAll * (sm >>> 8);
            for (int ii = 0; ii < 32; ii++) {
                int l = nearestInt((x[xo + 32 * j + ii] + dm) / d);
                lq[32 * j + ii] = Math.max(0, Math.min(15, l));
            }
        }
        long q = yo + 16;
        for (int j = 0; j < 256; j += 64) {
            for (int l = 0; l < 32; l++) {
                y.set(ValueLayout.JAVA_BYTE, q + l, (byte) (lq[j + l] | (lq[j + l + 32] << 4)));
            }
            q += 32;
        }
    }

    /** ggml's make_qkx2_quants with use_mad = false: an asymmetric (scale, min) fit searched over nstep scales. */
    private static float makeQkx2Quants(int n, int nmax, float[] x, int xo, float[] weights, int[] lq, int lo,
                                        float[] theMin, int[] laux, float rmin, float rdelta, int nstep) {
        float min = x[xo];
        float max = x[xo];
        float sumW = weights[0];
        float sumX = sumW * x[xo];
        for (int i = 1; i < n; i++) {
            if (x[xo + i] < min) {
                min = x[xo + i];
            }
            if (x[xo + i] > max) {
                max = x[xo + i];
            }
            float w = weights[i];
            sumW += w;
            sumX += w * x[xo + i];
        }
        if (min > 0) {
            min = 0;
        }
        if (max == min) {
            for (int i = 0; i < n; i++) {
                lq[lo + i] = 0;
            }
            theMin[0] = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestMad = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * (x[xo + i] - min));
            lq[lo + i] = Math.max(0, Math.min(nmax, l));
            float diff = scale * lq[lo + i] + min - x[xo + i];
            diff = diff * diff;
            bestMad += weights[i] * diff;
        }
        if (nstep < 1) {
            theMin[0] = -min;
            return scale;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0;
            float sumL2 = 0;
            float sumXl = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * (x[xo + i] - min));
                l = Math.max(0, Math.min(nmax, l));
                laux[i] = l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[xo + i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0) {
                float thisScale = (sumW * sumXl - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / det;
                if (thisMin > 0) {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float mad = 0;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * laux[i] + thisMin - x[xo + i];
                    diff = diff * diff;
                    mad += weights[i] * diff;
                }
                if (mad < bestMad) {
                    System.arraycopy(laux, 0, lq, lo, n);
                    bestMad = mad;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin[0] = -min;
        return scale;
    }

    // ---- Q6_K --------------------------------------------------------------------------------------------------

    private static void dequantizeBlockQ6_K(MemorySegment x, long xo, float[] y, int yo) {
        float d = f16(x, xo + 208);
        long ql = xo;
        long qh = xo + 128;
        long sc = xo + 192;
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int h = b(x, qh + l);
                int lo0 = b(x, ql + l);
                int lo1 = b(x, ql + l + 32);
                int q1 = ((lo0 & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((lo1 & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((lo0 >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((lo1 >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[yo + n + l] = d * x.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                y[yo + n + l + 32] = d * x.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                y[yo + n + l + 64] = d * x.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                y[yo + n + l + 96] = d * x.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    private static void quantizeBlockQ6_K(float[] x, int xo, MemorySegment y, long yo) {
        int[] lq = new int[256];
        float[] scales = new float[16];
        float maxScale = 0;
        float maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++) {
            float scale = makeQxQuants(16, 32, x, xo + 16 * ib, lq, 16 * ib);
            scales[ib] = scale;
            float abs = Math.abs(scale);
            if (abs > maxAbsScale) {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        if (maxAbsScale < GROUP_MAX_EPS) {
            y.asSlice(yo, 210).fill((byte) 0);
            return;
        }
        float iscale = -128f / maxScale;
        short dBits = Float.floatToFloat16(1 / iscale);
        y.set(SHORT_LE, yo + 208, dBits);
        byte[] sc = new byte[16];
        for (int ib = 0; ib < 16; ib++) {
            sc[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
        }
        MemorySegment.copy(sc, 0, y, ValueLayout.JAVA_BYTE, yo + 192, 16);
        float dAll = Float.float16ToFloat(dBits);
        for (int j = 0; j < 16; j++) {
            float d = dAll * sc[j];
            if (d == 0f) {
                continue;
            }
            for (int ii = 0; ii < 16; ii++) {
                int l = nearestInt(x[xo + 16 * j + ii] / d);
                l = Math.max(-32, Math.min(31, l));
                lq[16 * j + ii] = l + 32;
            }
        }
        long ql = yo;
        long qh = yo + 128;
        for (int j = 0; j < 256; j += 128) {
            for (int l = 0; l < 32; l++) {
                int q1 = lq[j + l] & 0xF;
                int q2 = lq[j + l + 32] & 0xF;
                int q3 = lq[j + l + 64] & 0xF;
                int q4 = lq[j + l + 96] & 0xF;
                y.set(ValueLayout.JAVA_BYTE, ql + l, (byte) (q1 | (q3 << 4)));
                y.set(ValueLayout.JAVA_BYTE, ql + l + 32, (byte) (q2 | (q4 << 4)));
                y.set(ValueLayout.JAVA_BYTE, qh + l, (byte) ((lq[j + l] >> 4) | ((lq[j + l + 32] >> 4) << 2)
                        | ((lq[j + l + 64] >> 4) << 4) | ((lq[j + l + 96] >> 4) << 6)));
            }
            ql += 64;
            qh += 32;
        }
    }

    /** ggml's make_qx_quants with rmse_type = 1 (weights x^2) and no importance weights: a symmetric fit. */
    private static float makeQxQuants(int n, int nmax, float[] x, int xo, int[] lq, int lo) {
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xo + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xo + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            for (int i = 0; i < n; i++) {
                lq[lo + i] = 0;
            }
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearestInt(iscale * x[xo + i]);
            l = Math.max(-nmax, Math.min(nmax - 1, l));
            lq[lo + i] = l + nmax;
            float w = x[xo + i] * x[xo + i];
            sumlx += w * x[xo + i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                int l = nearestInt(iscale * x[xo + i]);
                l = Math.max(-nmax, Math.min(nmax - 1, l));
                float w = x[xo + i] * x[xo + i];
                sumlx += w * x[xo + i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[xo + i]);
                    lq[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    private static void checkRange(GgmlType type, int arrayLength, int arrayOff, int n, MemorySegment seg, long segOff) {
        Objects.requireNonNull(seg, "segment");
        if (n < 0 || n % type.blockSize() != 0) {
            throw new IllegalArgumentException(
                    "n: " + n + " (expected: non-negative multiple of " + type.blockSize() + " for " + type + ")");
        }
        Objects.checkFromIndexSize(arrayOff, n, arrayLength);
        Objects.checkFromIndexSize(segOff, type.byteSize(n), seg.byteSize());
    }
}
