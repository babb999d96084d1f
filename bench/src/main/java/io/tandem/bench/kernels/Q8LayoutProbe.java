package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The experiment behind the tiled Q8_0 decode layout ({@code io.tandem.engine.kernels.Q8Tiles}): one Q8_0 matrix of
 * {@code MiB} ({@code cols} wide), multiplied by one token on all threads, in several layouts and kernels, alternately
 * in each round, as Q8_0 bytes per CPU-second x threads next to the bandwidth probe:
 * <ul>
 *   <li>{@code ggml/Matmul}: the engine's path for a matrix without tiles (heap copy of each 4-row tile);</li>
 *   <li>{@code tiled/Matmul}: the engine's path with {@code withDecodeTiles()} (huge-page memory);</li>
 *   <li>{@code tiled-f16}, {@code tiled-f32}: the same tiled kernel reading a copy in this probe's memory, with f16
 *       scales as in the engine or f32 scales converted at pack time (4 x 4 bytes per block-group row);</li>
 *   <li>{@code ggml-direct}: four GGML rows decoded straight from the segment;</li>
 *   <li>{@code sum}: a plain four-accumulator float sum over the same memory (what streaming alone reaches).</li>
 * </ul>
 * This probe's own memory (the matrix and the two tiled copies) is ordinary 64-byte-aligned arena memory, 4 KiB pages,
 * unless {@code -Dhuge=true}, which maps it as the engine's huge-page allocator does. {@code -Dchunks=N} changes how
 * many parallel tasks a pass is split into (default 4 per thread; the engine's decode tasks are 80-420 KiB each);
 * {@code -Dwiden=b2i|b2s|p512} swaps the {@code tiled-f16} kernel's int8 widening (B2I then I2F, B2S then S2F, or one
 * 512-bit load per two block rows converted part by part) for the engine's B2F.
 *
 * <p>Usage: {@code Q8LayoutProbe [MiB 512] [rounds 5] [threads all] [cols 768]}; a MiB below 16 is repeated to a
 * gigabyte per pass (cache-resident, compute-bound). Not thread-safe; a tuning aid.
 */
public final class Q8LayoutProbe {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_256;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final int G = 8; // blocks per group
    static volatile float sink;
    static final boolean HUGE = Boolean.getBoolean("huge");
    /** Widening in the tiled-f16 column: b2f (default, as the engine), b2i (then I2F), b2s (then S2F), p512. */
    static final String WIDEN = System.getProperty("widen", "b2f");

    /** The engine's huge-page allocation ({@link io.tandem.engine.kernels.HugePages}), freed with {@code arena}. */
    static MemorySegment huge(long size, Arena arena) {
        return io.tandem.engine.kernels.HugePages.allocate(size, arena);
    }

    /** Repacked: per tile of 4 rows, per group of up to G blocks: 64 bytes of f16 scales [j*4+r], then quants. */
    static MemorySegment repack(MemorySegment src, int rows, int cols, Arena arena, boolean f32) {
        int blocks = cols / 32;
        int groups = (blocks + G - 1) / G;
        int scaleBytes = f32 ? 4 * 4 * G : 64;
        long tileBytes = (long) groups * scaleBytes + 128L * blocks;
        int tiles = (rows + 3) / 4;
        MemorySegment dst = HUGE ? huge(tiles * tileBytes, arena) : arena.allocate(tiles * tileBytes, 64);
        long rowBytes = 34L * blocks;
        for (int t = 0; t < tiles; t++) {
            long o = t * tileBytes;
            for (int g = 0; g < groups; g++) {
                int nb = Math.min(G, blocks - g * G);
                for (int j = 0; j < nb; j++) {
                    for (int r = 0; r < 4; r++) {
                        int row = 4 * t + r;
                        if (row >= rows) {
                            continue;
                        }
                        long so = row * rowBytes + 34L * (g * G + j);
                        short d = src.get(ValueLayout.JAVA_SHORT_UNALIGNED, so);
                        if (f32) {
                            dst.set(ValueLayout.JAVA_FLOAT_UNALIGNED, o + 4L * (j * 4 + r), Float.float16ToFloat(d));
                        } else {
                            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, o + 2L * (j * 4 + r), d);
                        }
                        MemorySegment.copy(src, so + 2, dst, o + scaleBytes + 128L * j + 32L * r, 32);
                    }
                }
                o += scaleBytes + 128L * nb;
            }
        }
        return dst;
    }

    static void tileF16(MemorySegment w, long o, int blocks, float[] x, float[] out, int oo, float[] sc) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int b0 = 0; b0 < blocks; b0 += G) {
            int nb = Math.min(G, blocks - b0);
            scales(w, o, sc);
            long q = o + 64;
            for (int j = 0; j < nb; j++) {
                int xo = 32 * (b0 + j);
                FloatVector x0 = FloatVector.fromArray(F, x, xo);
                FloatVector x1 = FloatVector.fromArray(F, x, xo + 16);
                long qj = q + 128L * j;
                FloatVector s0 = q8(w, qj).mul(x0);
                FloatVector s1 = q8(w, qj + 32).mul(x0);
                FloatVector s2 = q8(w, qj + 64).mul(x0);
                FloatVector s3 = q8(w, qj + 96).mul(x0);
                s0 = q8(w, qj + 16).fma(x1, s0);
                s1 = q8(w, qj + 48).fma(x1, s1);
                s2 = q8(w, qj + 80).fma(x1, s2);
                s3 = q8(w, qj + 112).fma(x1, s3);
                a0 = s0.fma(FloatVector.broadcast(F, sc[4 * j]), a0);
                a1 = s1.fma(FloatVector.broadcast(F, sc[4 * j + 1]), a1);
                a2 = s2.fma(FloatVector.broadcast(F, sc[4 * j + 2]), a2);
                a3 = s3.fma(FloatVector.broadcast(F, sc[4 * j + 3]), a3);
            }
            o += 64 + 128L * nb;
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    // The widening variants below are whole kernels of their own on purpose: folded into tileF16 behind a switch on
    // a constant, the B2I variant compiled to half its rate (21 % of the probe against 35-40 %, 64 MiB, 3 rounds),
    // so the probe would no longer measure what docs/benchmarks.md reports.
    static void tileF16B2I(MemorySegment w, long o, int blocks, float[] x, float[] out, int oo, float[] sc) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int b0 = 0; b0 < blocks; b0 += G) {
            int nb = Math.min(G, blocks - b0);
            scales(w, o, sc);
            long q = o + 64;
            for (int j = 0; j < nb; j++) {
                int xo = 32 * (b0 + j);
                FloatVector x0 = FloatVector.fromArray(F, x, xo);
                FloatVector x1 = FloatVector.fromArray(F, x, xo + 16);
                long qj = q + 128L * j;
                FloatVector s0 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).mul(x0);
                FloatVector s1 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 32, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).mul(x0);
                FloatVector s2 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 64, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).mul(x0);
                FloatVector s3 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 96, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).mul(x0);
                s0 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 16, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).fma(x1, s0);
                s1 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 48, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).fma(x1, s1);
                s2 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 80, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).fma(x1, s2);
                s3 = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, qj + 112, LE).convertShape(VectorOperators.B2I, I, 0)).convert(VectorOperators.I2F, 0)).fma(x1, s3);
                a0 = s0.fma(FloatVector.broadcast(F, sc[4 * j]), a0);
                a1 = s1.fma(FloatVector.broadcast(F, sc[4 * j + 1]), a1);
                a2 = s2.fma(FloatVector.broadcast(F, sc[4 * j + 2]), a2);
                a3 = s3.fma(FloatVector.broadcast(F, sc[4 * j + 3]), a3);
            }
            o += 64 + 128L * nb;
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    static void tileF16B2S(MemorySegment w, long o, int blocks, float[] x, float[] out, int oo, float[] sc) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int b0 = 0; b0 < blocks; b0 += G) {
            int nb = Math.min(G, blocks - b0);
            scales(w, o, sc);
            long q = o + 64;
            for (int j = 0; j < nb; j++) {
                int xo = 32 * (b0 + j);
                FloatVector x0 = FloatVector.fromArray(F, x, xo);
                FloatVector x1 = FloatVector.fromArray(F, x, xo + 16);
                long qj = q + 128L * j;
                FloatVector s0 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).mul(x0);
                FloatVector s1 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 32, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).mul(x0);
                FloatVector s2 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 64, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).mul(x0);
                FloatVector s3 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 96, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).mul(x0);
                s0 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 16, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).fma(x1, s0);
                s1 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 48, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).fma(x1, s1);
                s2 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 80, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).fma(x1, s2);
                s3 = ((FloatVector) ((ShortVector) ByteVector.fromMemorySegment(B, w, qj + 112, LE).convertShape(VectorOperators.B2S, S, 0)).convertShape(VectorOperators.S2F, F, 0)).fma(x1, s3);
                a0 = s0.fma(FloatVector.broadcast(F, sc[4 * j]), a0);
                a1 = s1.fma(FloatVector.broadcast(F, sc[4 * j + 1]), a1);
                a2 = s2.fma(FloatVector.broadcast(F, sc[4 * j + 2]), a2);
                a3 = s3.fma(FloatVector.broadcast(F, sc[4 * j + 3]), a3);
            }
            o += 64 + 128L * nb;
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    static void tileF16P512(MemorySegment w, long o, int blocks, float[] x, float[] out, int oo, float[] sc) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int b0 = 0; b0 < blocks; b0 += G) {
            int nb = Math.min(G, blocks - b0);
            scales(w, o, sc);
            long q = o + 64;
            for (int j = 0; j < nb; j++) {
                int xo = 32 * (b0 + j);
                FloatVector x0 = FloatVector.fromArray(F, x, xo);
                FloatVector x1 = FloatVector.fromArray(F, x, xo + 16);
                long qj = q + 128L * j;
                ByteVector v01 = ByteVector.fromMemorySegment(ByteVector.SPECIES_512, w, qj, LE);
                ByteVector v23 = ByteVector.fromMemorySegment(ByteVector.SPECIES_512, w, qj + 64, LE);
                FloatVector s0 = ((FloatVector) v01.convertShape(VectorOperators.B2F, F, 0)).mul(x0);
                FloatVector s1 = ((FloatVector) v01.convertShape(VectorOperators.B2F, F, 2)).mul(x0);
                FloatVector s2 = ((FloatVector) v23.convertShape(VectorOperators.B2F, F, 0)).mul(x0);
                FloatVector s3 = ((FloatVector) v23.convertShape(VectorOperators.B2F, F, 2)).mul(x0);
                s0 = ((FloatVector) v01.convertShape(VectorOperators.B2F, F, 1)).fma(x1, s0);
                s1 = ((FloatVector) v01.convertShape(VectorOperators.B2F, F, 3)).fma(x1, s1);
                s2 = ((FloatVector) v23.convertShape(VectorOperators.B2F, F, 1)).fma(x1, s2);
                s3 = ((FloatVector) v23.convertShape(VectorOperators.B2F, F, 3)).fma(x1, s3);
                a0 = s0.fma(FloatVector.broadcast(F, sc[4 * j]), a0);
                a1 = s1.fma(FloatVector.broadcast(F, sc[4 * j + 1]), a1);
                a2 = s2.fma(FloatVector.broadcast(F, sc[4 * j + 2]), a2);
                a3 = s3.fma(FloatVector.broadcast(F, sc[4 * j + 3]), a3);
            }
            o += 64 + 128L * nb;
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    static void tileF32(MemorySegment w, long o, int blocks, float[] x, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int b0 = 0; b0 < blocks; b0 += G) {
            int nb = Math.min(G, blocks - b0);
            long q = o + 16 * G;
            for (int j = 0; j < nb; j++) {
                int xo = 32 * (b0 + j);
                FloatVector x0 = FloatVector.fromArray(F, x, xo);
                FloatVector x1 = FloatVector.fromArray(F, x, xo + 16);
                long qj = q + 128L * j;
                long sj = o + 16L * j;
                FloatVector s0 = q8(w, qj).mul(x0);
                FloatVector s1 = q8(w, qj + 32).mul(x0);
                FloatVector s2 = q8(w, qj + 64).mul(x0);
                FloatVector s3 = q8(w, qj + 96).mul(x0);
                s0 = q8(w, qj + 16).fma(x1, s0);
                s1 = q8(w, qj + 48).fma(x1, s1);
                s2 = q8(w, qj + 80).fma(x1, s2);
                s3 = q8(w, qj + 112).fma(x1, s3);
                a0 = s0.fma(FloatVector.broadcast(F, w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, sj)), a0);
                a1 = s1.fma(FloatVector.broadcast(F, w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, sj + 4)), a1);
                a2 = s2.fma(FloatVector.broadcast(F, w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, sj + 8)), a2);
                a3 = s3.fma(FloatVector.broadcast(F, w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, sj + 12)), a3);
            }
            o += 16 * G + 128L * nb;
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    static void tileOrig(MemorySegment seg, long o, long rowBytes, int blocks, float[] x, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        long o1 = o + rowBytes;
        long o2 = o1 + rowBytes;
        long o3 = o2 + rowBytes;
        for (int b = 0; b < blocks; b++) {
            FloatVector x0 = FloatVector.fromArray(F, x, 32 * b);
            FloatVector x1 = FloatVector.fromArray(F, x, 32 * b + 16);
            long bo = 34L * b;
            FloatVector s0 = q8(seg, o + bo + 2).mul(x0);
            FloatVector s1 = q8(seg, o1 + bo + 2).mul(x0);
            FloatVector s2 = q8(seg, o2 + bo + 2).mul(x0);
            FloatVector s3 = q8(seg, o3 + bo + 2).mul(x0);
            s0 = q8(seg, o + bo + 18).fma(x1, s0);
            s1 = q8(seg, o1 + bo + 18).fma(x1, s1);
            s2 = q8(seg, o2 + bo + 18).fma(x1, s2);
            s3 = q8(seg, o3 + bo + 18).fma(x1, s3);
            a0 = s0.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(SH, o + bo))), a0);
            a1 = s1.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(SH, o1 + bo))), a1);
            a2 = s2.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(SH, o2 + bo))), a2);
            a3 = s3.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(SH, o3 + bo))), a3);
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    static final ValueLayout.OfShort SH = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);

    static float sum(MemorySegment s, long off, long len) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (long p = off, e = off + len - 255; p < e; p += 256) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, s, p, LE));
            a1 = a1.add(FloatVector.fromMemorySegment(F, s, p + 64, LE));
            a2 = a2.add(FloatVector.fromMemorySegment(F, s, p + 128, LE));
            a3 = a3.add(FloatVector.fromMemorySegment(F, s, p + 192, LE));
        }
        return a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    }

    /** A group's 32 f16 scales (64 bytes at {@code o}) to floats in {@code sc}, as the engine's Q8Tiles does. */
    static void scales(MemorySegment w, long o, float[] sc) {
        for (int h = 0; h < 2; h++) {
            ShortVector hv = ShortVector.fromMemorySegment(S, w, o + 32L * h, LE);
            IntVector v = (IntVector) hv.convertShape(VectorOperators.S2I, I, 0);
            IntVector sign = v.and(0x8000).lanewise(VectorOperators.LSHL, 16);
            IntVector em = v.and(0x7FFF);
            IntVector bits = em.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f)
                    .reinterpretAsInts();
            bits.or(sign).reinterpretAsFloats().intoArray(sc, 16 * h);
        }
    }

    static FloatVector q8(MemorySegment w, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B, w, off, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    interface Kernel {
        void run();
    }

    static double cpu(Kernel k, ComputePool pool) {
        long c0 = CpuClock.nanos();
        k.run();
        return (CpuClock.nanos() - c0) / 1e9 / pool.threads();
    }

    public static void main(String[] args) {
        long mib = args.length > 0 ? Long.parseLong(args[0]) : 512;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();
        int cols = args.length > 3 ? Integer.parseInt(args[3]) : 768;
        int blocks = cols / 32;
        int rows = (int) ((mib << 20) / (34L * blocks)) / 4 * 4;
        try (Arena arena = Arena.ofShared(); ComputePool pool = new ComputePool(threads)) {
            MemorySegment src = SmallModelWeights.random(GgmlType.Q8_0, Math.min(rows, 4096), cols, new Random(1), arena);
            MemorySegment big = HUGE ? huge(rows * 34L * blocks, arena) : arena.allocate(rows * 34L * blocks, 64);
            for (long o = 0; o < big.byteSize(); o += src.byteSize()) {
                MemorySegment.copy(src, 0, big, o, Math.min(src.byteSize(), big.byteSize() - o));
            }
            WeightMatrix wm = WeightMatrix.of(GgmlType.Q8_0, rows, cols, big);
            MemorySegment p16 = repack(big, rows, cols, arena, false);
            MemorySegment p32 = repack(big, rows, cols, arena, true);
            long t16 = p16.byteSize() / (rows / 4);
            long t32 = p32.byteSize() / (rows / 4);
            float[] x = new float[cols];
            Random rnd = new Random(2);
            for (int i = 0; i < cols; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            float[] ref = new float[rows];
            float[] o16 = new float[rows];
            float[] o32 = new float[rows];
            int chunks = Integer.getInteger("chunks", 4 * threads);
            int tilesPer = (rows / 4 + chunks - 1) / chunks;
            ThreadLocal<float[]> scs = ThreadLocal.withInitial(() -> new float[32]);
            WeightMatrix wt = wm.withDecodeTiles();
            float[] ot = new float[rows];
            Kernel a = () -> Matmul.matmul(pool, wm, x, 1, ref);
            Kernel tK = () -> Matmul.matmul(pool, wt, x, 1, ot);
            Kernel b = () -> pool.parallelFor(chunks, c -> {
                float[] sc = scs.get();
                for (int t = c * tilesPer, e = Math.min(rows / 4, t + tilesPer); t < e; t++) {
                    switch (WIDEN) {
                        case "b2i" -> tileF16B2I(p16, t * t16, blocks, x, o16, 4 * t, sc);
                        case "b2s" -> tileF16B2S(p16, t * t16, blocks, x, o16, 4 * t, sc);
                        case "p512" -> tileF16P512(p16, t * t16, blocks, x, o16, 4 * t, sc);
                        default -> tileF16(p16, t * t16, blocks, x, o16, 4 * t, sc);
                    }
                }
            });
            Kernel cK = () -> pool.parallelFor(chunks, c -> {
                for (int t = c * tilesPer, e = Math.min(rows / 4, t + tilesPer); t < e; t++) {
                    tileF32(p32, t * t32, blocks, x, o32, 4 * t);
                }
            });
            float[] od = new float[rows];
            Kernel dK = () -> pool.parallelFor(chunks, c -> {
                for (int t = c * tilesPer, e = Math.min(rows / 4, t + tilesPer); t < e; t++) {
                    tileOrig(big, t * 4 * 34L * blocks, 34L * blocks, blocks, x, od, 4 * t);
                }
            });
            float[] part = new float[chunks];
            long chunkBytes = big.byteSize() / chunks / 256 * 256;
            Kernel eK = () -> pool.parallelFor(chunks, c -> part[c] = sum(big, c * chunkBytes, chunkBytes));
            int inner = mib < 16 ? (int) (4096 / mib) : 1;
            Kernel t2 = rep(tK, inner), a2 = rep(a, inner), b2 = rep(b, inner), c2 = rep(cK, inner), d2 = rep(dK, inner), e2 = rep(eK, inner);
            for (int w = 0; w < 3; w++) {
                a2.run();
                t2.run();
                b2.run();
                c2.run();
                d2.run();
                e2.run();
            }
            double maxErr = 0;
            for (int i = 0; i < rows; i++) {
                maxErr = Math.max(maxErr, Math.abs(ref[i] - o16[i]) + Math.abs(ref[i] - o32[i]) + Math.abs(ref[i] - od[i]) + Math.abs(ref[i] - ot[i]));
            }
            System.out.printf("rows %d cols %d, %.1f MiB, max |diff| %.2e%n", rows, cols, big.byteSize() / 1048576.0,
                    maxErr);
            double bytes = (double) big.byteSize() * inner;
            for (int r = 0; r < rounds; r++) {
                MemoryBandwidth.measureGBs(pool, 2);
                double bw = MemoryBandwidth.lastCpuGBs;
                double ca = cpu(a2, pool);
                double cb = cpu(b2, pool);
                double ct = cpu(t2, pool);
                double cc = cpu(c2, pool);
                double cd = cpu(d2, pool);
                double ce = cpu(e2, pool);
                System.out.printf("round %d: probe %.1f GB/s | ggml/Matmul %.1f (%.0f%%) | tiled/Matmul %.1f (%.0f%%) |"
                                + " tiled-f16 %.1f (%.0f%%) | tiled-f32 %.1f (%.0f%%) | ggml-direct %.1f (%.0f%%) |"
                                + " sum %.1f (GB/s per CPU-second x threads)%n", r, bw, bytes / ca / 1e9,
                        100 * bytes / ca / 1e9 / bw, bytes / ct / 1e9, 100 * bytes / ct / 1e9 / bw, bytes / cb / 1e9, 100 * bytes / cb / 1e9 / bw,
                        bytes / cc / 1e9, 100 * bytes / cc / 1e9 / bw, bytes / cd / 1e9, 100 * bytes / cd / 1e9 / bw, bytes / ce / 1e9);
            }
            sink = ref[1] + o16[2] + o32[3] + ot[0] + part[0];
        }
    }

    static Kernel rep(Kernel k, int n) {
        return () -> {
            for (int i = 0; i < n; i++) {
                k.run();
            }
        };
    }
}
