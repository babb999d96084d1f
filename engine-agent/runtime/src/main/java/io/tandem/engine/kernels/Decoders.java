package io.tandem.engine.kernels;

import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorized decoders: turn a column range of one encoded weight row into floats in a heap scratch array, so that
 * one float kernel serves every type. Results equal {@link io.tandem.engine.tensor.Quants#dequantizeRow} bit for bit
 * (same operations in the same order, no FMA contraction).
 *
 * <p>Stateless and thread-safe.
 */
final class Decoders {
    private Decoders() {
    }

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Bytes and shorts with as many lanes as F, so that a widening conversion fills exactly one float vector. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));

    /** The quantized block layouts below assume 16 / L whole vectors per half block. */
    static final boolean VECTOR_QUANTS = L <= 16 && 16 % L == 0;

    /**
     * Decodes elements {@code [k0, k0 + kc)} of the row at byte offset {@code rowOff} into {@code dst[dstOff ..)}.
     * {@code k0} and {@code kc} are multiples of the block size.
     */
    static void decode(GgmlType type, MemorySegment seg, long rowOff, int k0, int kc, float[] dst, int dstOff) {
        switch (type) {
            case F32 -> MemorySegment.copy(seg, FLOAT_LE, rowOff + 4L * k0, dst, dstOff, kc);
            case F16 -> decodeF16(seg, rowOff + 2L * k0, kc, dst, dstOff);
            case BF16 -> decodeBf16(seg, rowOff + 2L * k0, kc, dst, dstOff);
            case Q8_0 -> decodeQ8_0(seg, rowOff + 34L * (k0 / 32), kc / 32, dst, dstOff);
            case Q4_0 -> decodeQ4_0(seg, rowOff + 18L * (k0 / 32), kc / 32, dst, dstOff);
            case Q4_K -> decodeQ4_K(seg, rowOff + 144L * (k0 / 256), kc / 256, dst, dstOff);
            case Q6_K -> decodeQ6_K(seg, rowOff + 210L * (k0 / 256), kc / 256, dst, dstOff);
        }
    }

    static void decodeF16(MemorySegment seg, long off, int n, float[] dst, int dstOff) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            ShortVector h = ShortVector.fromMemorySegment(S, seg, off + 2L * i, LE);
            IntVector v = (IntVector) h.convertShape(VectorOperators.S2I, I, 0);
            IntVector sign = v.and(0x8000).lanewise(VectorOperators.LSHL, 16);
            IntVector em = v.and(0x7FFF);
            // Treating the shifted bits as an f32 and scaling by 2^112 re-biases the exponent (15 -> 127) and turns
            // f16 subnormals into the right normal f32 exactly. Inf/NaN (em >= 0x7C00) need the exponent forced to
            // all ones: (em + 0x400) >>> 15 is 1 exactly for them, and 0 - 1 = all bits set selects 0x7F800000.
            IntVector bits = em.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f)
                    .reinterpretAsInts();
            IntVector special = em.add(0x400).lanewise(VectorOperators.LSHR, 15).neg().and(0x7F800000);
            bits = bits.or(special).or(sign);
            bits.reinterpretAsFloats().intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(seg.get(SHORT_LE, off + 2L * i));
        }
    }

    static void decodeBf16(MemorySegment seg, long off, int n, float[] dst, int dstOff) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            ShortVector h = ShortVector.fromMemorySegment(S, seg, off + 2L * i, LE);
            IntVector v = (IntVector) h.convertShape(VectorOperators.S2I, I, 0);
            v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = Float.intBitsToFloat((seg.get(SHORT_LE, off + 2L * i) & 0xFFFF) << 16);
        }
    }

    // Conversions are written out inline on purpose: a helper method returning a vector is not always inlined into
    // these large methods, and a non-inlined vector return is boxed (a heap allocation per call) - measured 10x
    // slower for Q6_K.

    static void decodeQ8_0(MemorySegment seg, long off, int blocks, float[] dst, int dstOff) {
        if (!VECTOR_QUANTS) {
            scalar(GgmlType.Q8_0, seg, off, blocks * 32, dst, dstOff);
            return;
        }
        for (int b = 0; b < blocks; b++) {
            long o = off + 34L * b;
            float d = Float.float16ToFloat(seg.get(SHORT_LE, o));
            for (int j = 0; j < 32; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, seg, o + 2 + j, LE);
                FloatVector f = (FloatVector) q.convertShape(VectorOperators.B2F, F, 0);
                f.mul(d).intoArray(dst, dstOff + 32 * b + j);
            }
        }
    }

    static void decodeQ4_0(MemorySegment seg, long off, int blocks, float[] dst, int dstOff) {
        if (!VECTOR_QUANTS) {
            scalar(GgmlType.Q4_0, seg, off, blocks * 32, dst, dstOff);
            return;
        }
        for (int b = 0; b < blocks; b++) {
            long o = off + 18L * b;
            float d = Float.float16ToFloat(seg.get(SHORT_LE, o));
            int y = dstOff + 32 * b;
            for (int j = 0; j < 16; j += L) {
                // Nibbles are split on int lanes: x86 has no byte shifts, so byte-lane shifts are emulated slowly.
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, seg, o + 2 + j, LE)
                        .convertShape(VectorOperators.B2I, I, 0);
                IntVector lo = q.and(0x0F).sub(8);
                IntVector hi = q.lanewise(VectorOperators.LSHR, 4).and(0x0F).sub(8);
                ((FloatVector) lo.convert(VectorOperators.I2F, 0)).mul(d).intoArray(dst, y + j);
                ((FloatVector) hi.convert(VectorOperators.I2F, 0)).mul(d).intoArray(dst, y + 16 + j);
            }
        }
    }

    static void decodeQ4_K(MemorySegment seg, long off, int blocks, float[] dst, int dstOff) {
        if (!VECTOR_QUANTS) {
            scalar(GgmlType.Q4_K, seg, off, blocks * 256, dst, dstOff);
            return;
        }
        for (int b = 0; b < blocks; b++) {
            long o = off + 144L * b;
            float d = Float.float16ToFloat(seg.get(SHORT_LE, o));
            float min = Float.float16ToFloat(seg.get(SHORT_LE, o + 2));
            long sc = o + 4;
            int y = dstOff + 256 * b;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
                long q = o + 16 + j / 2;
                int sm1 = scaleMin(seg, sc, is);
                float d1 = d * (sm1 & 0xFF);
                float m1 = min * (sm1 >>> 8);
                int sm2 = scaleMin(seg, sc, is + 1);
                float d2 = d * (sm2 & 0xFF);
                float m2 = min * (sm2 >>> 8);
                for (int l = 0; l < 32; l += L) {
                    IntVector qv = (IntVector) ByteVector.fromMemorySegment(B, seg, q + l, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    FloatVector lo = (FloatVector) qv.and(0x0F).convert(VectorOperators.I2F, 0);
                    FloatVector hi = (FloatVector) qv.lanewise(VectorOperators.LSHR, 4).and(0x0F)
                            .convert(VectorOperators.I2F, 0);
                    // mul then sub (no FMA), as ggml's d1 * q - m1, so results match the reference exactly.
                    lo.mul(d1).sub(m1).intoArray(dst, y + j + l);
                    hi.mul(d2).sub(m2).intoArray(dst, y + j + 32 + l);
                }
            }
        }
    }

    /** Same as Quants.scaleMinK4, inlined here for the hot path: {@code scale | min << 8}. */
    static int scaleMin(MemorySegment s, long sc, int j) {
        if (j < 4) {
            return (u8(s, sc + j) & 63) | (u8(s, sc + j + 4) & 63) << 8;
        }
        int hi = u8(s, sc + j + 4);
        int scale = (hi & 0xF) | ((u8(s, sc + j - 4) >>> 6) << 4);
        int m = (hi >>> 4) | ((u8(s, sc + j) >>> 6) << 4);
        return scale | m << 8;
    }

    static int u8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    static void decodeQ6_K(MemorySegment seg, long off, int blocks, float[] dst, int dstOff) {
        if (!VECTOR_QUANTS) {
            scalar(GgmlType.Q6_K, seg, off, blocks * 256, dst, dstOff);
            return;
        }
        for (int b = 0; b < blocks; b++) {
            long o = off + 210L * b;
            float d = Float.float16ToFloat(seg.get(SHORT_LE, o + 208));
            int y = dstOff + 256 * b;
            for (int n = 0; n < 256; n += 128) {
                long ql = o + n / 2;
                long qh = o + 128 + n / 4;
                long sc = o + 192 + n / 16;
                for (int l = 0; l < 32; l += L) {
                    int is = l / 16;
                    IntVector lo0 = (IntVector) ByteVector.fromMemorySegment(B, seg, ql + l, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    IntVector lo1 = (IntVector) ByteVector.fromMemorySegment(B, seg, ql + l + 32, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    IntVector h = (IntVector) ByteVector.fromMemorySegment(B, seg, qh + l, LE)
                            .convertShape(VectorOperators.B2I, I, 0);
                    // Low nibble | 2 high bits << 4, minus 32; the bit groups are disjoint.
                    IntVector q1 = lo0.and(0x0F).or(h.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32);
                    IntVector q2 = lo1.and(0x0F).or(h.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
                    IntVector q3 = lo0.lanewise(VectorOperators.LSHR, 4).and(0x0F).or(h.and(0x30)).sub(32);
                    IntVector q4 = lo1.lanewise(VectorOperators.LSHR, 4).and(0x0F)
                            .or(h.lanewise(VectorOperators.LSHR, 2).and(0x30)).sub(32);
                    // (d * scale) first, as in the C code, so the product is rounded identically.
                    float s1 = d * seg.get(ValueLayout.JAVA_BYTE, sc + is);
                    float s2 = d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 2);
                    float s3 = d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 4);
                    float s4 = d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 6);
                    ((FloatVector) q1.convert(VectorOperators.I2F, 0)).mul(s1).intoArray(dst, y + n + l);
                    ((FloatVector) q2.convert(VectorOperators.I2F, 0)).mul(s2).intoArray(dst, y + n + l + 32);
                    ((FloatVector) q3.convert(VectorOperators.I2F, 0)).mul(s3).intoArray(dst, y + n + l + 64);
                    ((FloatVector) q4.convert(VectorOperators.I2F, 0)).mul(s4).intoArray(dst, y + n + l + 96);
                }
            }
        }
    }

    private static void scalar(GgmlType type, MemorySegment seg, long off, int n, float[] dst, int dstOff) {
        io.tandem.engine.tensor.Quants.dequantizeRow(type, seg, off, dst, dstOff, n);
    }
}
