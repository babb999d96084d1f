package io.tandem.engine.kernels;

import static io.tandem.engine.kernels.Decoders.L;
import static io.tandem.engine.kernels.Decoders.LE;

import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Q8_0 weights repacked once, at load time, for the batch-1 decode kernel: 16-row tiles whose int8 weights are
 * multiplied in 16-bit integer lanes by the activations quantized to int8 ({@link Q8Activations}), as llama.cpp
 * multiplies Q8_0 by Q8_0, in huge-page-backed memory ({@link HugePages}).
 *
 * <p>Layout, per tile of {@link #ROWS} rows (the last tile padded with zero rows), per 32-weight block {@code b}:
 * <pre>
 *   32 bytes    the 16 rows' f16 scales of block b
 *   16 x 32     pair p = 0..15: for each row r = 0..15, its weights 2p and 2p+1 of the block (int8, 2 bytes)
 * </pre>
 * 544 bytes a block, exactly the GGML bytes of 16 rows; blocks follow each other, tiles follow each other (tile
 * {@code t} at {@code t * tileBytes(cols)}), so each tile is one ascending stream.
 *
 * <p>The kernel ({@link #dot2}): one 512-bit short vector holds one pair of weights of each of the 16 rows, widened
 * from 32 bytes; multiplied lane by lane with the pair of quantized activations broadcast to every row, each 32-bit
 * lane then holds that row's two products. Two pairs are added in 16 bits, which cannot overflow: a product of two
 * int8 values of which the activation is within +-127 has magnitude at most 128 x 127 = 16256, two at most 32512. A
 * bias of 32768 on the low half makes it unsigned, so the 32-bit lanes can be summed as they are, and the high halves
 * (an arithmetic shift) on the side; at the block's end the low halves' sum is recovered exactly from the two. Per 64
 * weights that is nine vector operations (two widenings, two multiplies, three 16-bit and 32-bit adds, a shift, an
 * add) against fourteen for widening every weight to float, and there is no horizontal reduction at all: each lane is a
 * row. Per block and 16 rows the integer row sums are converted to float and scaled once.
 *
 * <p>Each call streams two tiles at once (tile {@code t} and the one half a task further on), which keeps two
 * hardware-prefetched streams in flight per core. Measured in docs/benchmarks.md, "Q8_0 decode in 16-bit lanes".
 *
 * <p>Thread-safe: packing writes only the new segment; the kernel reads only.
 */
final class Q8Tiles {
    private Q8Tiles() {
    }

    /** Rows per tile: one 32-bit lane per row. */
    static final int ROWS = 16;
    /** Bytes of one block of one tile: 16 f16 scales, then 16 x 32 quants. */
    static final int BLOCK_BYTES = 32 + 32 * ROWS;

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Short> S32 = ShortVector.SPECIES_512;
    private static final VectorSpecies<Byte> B32 = ByteVector.SPECIES_256;
    /** 32768 in the low 16 bits of every 32-bit lane: makes the low product sums unsigned. */
    private static final int BIAS = 0x8000;

    /** Whether this machine's vectors suit the kernel (512-bit vectors: 16 rows of 32-bit lanes). */
    static boolean supported() {
        return L == 16;
    }

    /** Bytes of one tile of a matrix with {@code cols} columns. */
    static long tileBytes(int cols) {
        return (long) BLOCK_BYTES * (cols / 32);
    }

    /** Bytes of the tiles of a {@code [rows, cols]} matrix. */
    static long bytes(int rows, int cols) {
        return (long) (rows + ROWS - 1) / ROWS * tileBytes(cols);
    }

    /**
     * A copy of Q8_0 matrix {@code w} in the tiled layout, freed with {@code owner}, or null if a block scale is Inf or
     * NaN (the kernel's f16 conversion assumes finite scales; such a matrix keeps the GGML-layout path).
     */
    static MemorySegment pack(WeightMatrix w, java.lang.foreign.Arena owner) {
        if (w.type() != GgmlType.Q8_0) {
            throw new IllegalArgumentException("type: " + w.type() + " (expected: Q8_0)");
        }
        int rows = w.rows();
        int blocks = w.cols() / 32;
        long tileBytes = tileBytes(w.cols());
        int tiles = (rows + ROWS - 1) / ROWS;
        MemorySegment src = w.data();
        long rowBytes = w.rowBytes();
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                if ((src.get(ValueLayout.JAVA_SHORT_UNALIGNED, r * rowBytes + 34L * b) & 0x7C00) == 0x7C00) {
                    return null;
                }
            }
        }
        MemorySegment dst = HugePages.allocate(tiles * tileBytes, owner);
        byte[] block = new byte[32];
        for (int t = 0; t < tiles; t++) {
            for (int r = 0; r < ROWS; r++) {
                int row = ROWS * t + r;
                if (row >= rows) {
                    break; // padding rows stay zero: scale 0, quants 0
                }
                for (int b = 0; b < blocks; b++) {
                    long so = row * rowBytes + 34L * b;
                    long bo = t * tileBytes + (long) BLOCK_BYTES * b;
                    dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, bo + 2L * r, src.get(ValueLayout.JAVA_SHORT_UNALIGNED, so));
                    MemorySegment.copy(src, ValueLayout.JAVA_BYTE, so + 2, block, 0, 32);
                    for (int p = 0; p < 16; p++) {
                        dst.set(ValueLayout.JAVA_BYTE, bo + 32 + 32L * p + 2L * r, block[2 * p]);
                        dst.set(ValueLayout.JAVA_BYTE, bo + 32 + 32L * p + 2L * r + 1, block[2 * p + 1]);
                    }
                }
            }
        }
        return dst;
    }

    /**
     * Rows {@code [r0, r1)} ({@code r0} a multiple of {@link #ROWS}) of the tiled {@code [rows, cols]} matrix dotted
     * with the quantized activation {@code (xq, xd)} ({@link Q8Activations}), into {@code out[r0 .. r1)}. {@code tmp}
     * is a scratch of at least {@code 2 * ROWS} floats. The tile loop lives here rather than in
     * {@code Matmul.decodeRows} so that the kernel is compiled into this small method.
     */
    static void rows(MemorySegment tiles, int cols, int[] xq, float[] xd, float[] out, int r0, int r1, float[] tmp) {
        long tileBytes = tileBytes(cols);
        int blocks = cols / 32;
        int t0 = r0 / ROWS;
        int t1 = (r1 + ROWS - 1) / ROWS;
        int half = (t1 - t0) / 2;
        for (int t = t0; t < t0 + half; t++) {
            int u = t + half;
            dot2(tiles, t * tileBytes, u * tileBytes, blocks, xq, xd, tmp);
            System.arraycopy(tmp, 0, out, t * ROWS, ROWS);
            System.arraycopy(tmp, ROWS, out, u * ROWS, Math.min(ROWS, r1 - u * ROWS));
        }
        if (((t1 - t0) & 1) != 0) {
            int t = t1 - 1;
            dot2(tiles, t * tileBytes, t * tileBytes, blocks, xq, xd, tmp);
            System.arraycopy(tmp, 0, out, t * ROWS, Math.min(ROWS, r1 - t * ROWS));
        }
    }

    /**
     * Tiles at {@code oa} and {@code ob} (which may be the same) dotted with {@code (xq, xd)}: the 16 results of the
     * first into {@code out[0 .. 16)}, of the second into {@code out[16 .. 32)}. Written out rather than split into
     * helpers: a helper returning a vector that is not inlined boxes every vector it returns.
     */
    static void dot2(MemorySegment w, long oa, long ob, int blocks, int[] xq, float[] xd, float[] out) {
        FloatVector accA = FloatVector.zero(F);
        FloatVector accB = FloatVector.zero(F);
        ShortVector bias = IntVector.broadcast(I, BIAS).reinterpretAsShorts();
        // The raw sums start at minus the eight biases they will collect, which saves a subtraction per block.
        IntVector unbiased = IntVector.broadcast(I, -8 * BIAS);
        IntVector zero = IntVector.zero(I);
        for (int b = 0; b < blocks; b++) {
            long ba = oa + (long) BLOCK_BYTES * b;
            long bb = ob + (long) BLOCK_BYTES * b;
            int xb = 16 * b;
            IntVector rawA = unbiased;
            IntVector hiA = zero;
            IntVector rawB = unbiased;
            IntVector hiB = zero;
            for (int p = 0; p < 16; p += 2) {
                ShortVector x0 = IntVector.broadcast(I, xq[xb + p]).reinterpretAsShorts();
                ShortVector x1 = IntVector.broadcast(I, xq[xb + p + 1]).reinterpretAsShorts();
                long qa = ba + 32 + 32L * p;
                long qb = bb + 32 + 32L * p;
                ShortVector sa = ((ShortVector) ByteVector.fromMemorySegment(B32, w, qa, LE)
                        .convertShape(VectorOperators.B2S, S32, 0)).mul(x0)
                        .add(((ShortVector) ByteVector.fromMemorySegment(B32, w, qa + 32, LE)
                                .convertShape(VectorOperators.B2S, S32, 0)).mul(x1))
                        .add(bias);
                ShortVector sb = ((ShortVector) ByteVector.fromMemorySegment(B32, w, qb, LE)
                        .convertShape(VectorOperators.B2S, S32, 0)).mul(x0)
                        .add(((ShortVector) ByteVector.fromMemorySegment(B32, w, qb + 32, LE)
                                .convertShape(VectorOperators.B2S, S32, 0)).mul(x1))
                        .add(bias);
                IntVector ia = sa.reinterpretAsInts();
                IntVector ib = sb.reinterpretAsInts();
                rawA = rawA.add(ia);
                hiA = hiA.add(ia.lanewise(VectorOperators.ASHR, 16));
                rawB = rawB.add(ib);
                hiB = hiB.add(ib.lanewise(VectorOperators.ASHR, 16));
            }
            // Each lane of raw is 65536 * sum(high) + sum(low + bias) - 8 * bias modulo 2^32; sum(low + bias) is
            // within [0, 2^20), so raw - (sum(high) << 16) is sum(low) exactly, and the row's sum adds sum(high).
            IntVector sumA = rawA.sub(hiA.lanewise(VectorOperators.LSHL, 16)).add(hiA);
            IntVector sumB = rawB.sub(hiB.lanewise(VectorOperators.LSHL, 16)).add(hiB);
            FloatVector da = scales(w, ba);
            FloatVector db = scales(w, bb);
            FloatVector xs = FloatVector.broadcast(F, xd[b]);
            accA = ((FloatVector) sumA.convert(VectorOperators.I2F, 0)).mul(da).fma(xs, accA);
            accB = ((FloatVector) sumB.convert(VectorOperators.I2F, 0)).mul(db).fma(xs, accB);
        }
        accA.intoArray(out, 0);
        accB.intoArray(out, ROWS);
    }
    /**
     * The 16 f16 scales at {@code o} as floats, for finite values (pack declines Inf/NaN): sign-extend, shift the
     * exponent and mantissa into place, keep the sign bit and those 15 bits, and rebias the exponent by multiplying by
     * 2^112 (exact, subnormals included). Small enough that C2 inlines it, so the vector it returns is not boxed.
     */
    private static FloatVector scales(MemorySegment w, long o) {
        return ((IntVector) ShortVector.fromMemorySegment(S16, w, o, LE).convertShape(VectorOperators.S2I, I, 0))
                .lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().mul(0x1p112f);
    }

    /**
     * Block {@code b} of the tile at {@code o}, dequantized ({@code q * d}, as {@code Decoders}) column by column:
     * {@code dst[dOff + 16 * k + r]} is row {@code r}'s weight {@code k} of the block. Column-major because this
     * layout holds a column's 16 rows together: no shuffles.
     */
    static void decodeBlock(MemorySegment w, long o, int b, float[] dst, int dOff) {
        long bo = o + (long) BLOCK_BYTES * b;
        FloatVector d = scales(w, bo);
        for (int p = 0; p < 16; p++) {
            ShortVector s = ShortVector.fromMemorySegment(S16, w, bo + 32 + 32L * p, LE);
            ((FloatVector) s.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 8)
                    .convertShape(VectorOperators.S2F, F, 0)).mul(d).intoArray(dst, dOff + 32 * p);
            ((FloatVector) s.lanewise(VectorOperators.ASHR, 8).convertShape(VectorOperators.S2F, F, 0)).mul(d)
                    .intoArray(dst, dOff + 32 * p + ROWS);
        }
    }

    /**
     * Batched decode from the tiles: rows {@code [r0, r1)} ({@code r0} a multiple of {@link #ROWS}) of the tiled
     * {@code [rows, cols]} matrix times {@code n} float tokens {@code x (n, cols)}, into {@code out (n, rows)}. Each
     * pair of weights is widened once per group of four tokens and multiplied into all of them. {@code tmp} is a
     * scratch of at least {@code 4 * ROWS} floats.
     */
    static void rowsMany(MemorySegment tiles, int rows, int cols, float[] x, int n, float[] out, int r0, int r1,
                         float[] tmp) {
        long tileBytes = tileBytes(cols);
        int blocks = cols / 32;
        for (int t = r0 / ROWS; t * ROWS < r1; t++) {
            int valid = Math.min(ROWS, r1 - t * ROWS);
            int tok = 0;
            for (; tok + 4 <= n; tok += 4) {
                dotFloat4(tiles, t * tileBytes, blocks, x, tok * cols, cols, tmp);
                for (int i = 0; i < 4; i++) {
                    System.arraycopy(tmp, i * ROWS, out, (tok + i) * rows + t * ROWS, valid);
                }
            }
            for (; tok < n; tok++) {
                dotFloat1(tiles, t * tileBytes, blocks, x, tok * cols, tmp);
                System.arraycopy(tmp, 0, out, tok * rows + t * ROWS, valid);
            }
        }
    }

    /** The tile at {@code o} times the four tokens at {@code x[xo + i * cols]}; results in {@code out[16 * i ..]}. */
    static void dotFloat4(MemorySegment w, long o, int blocks, float[] x, int xo, int cols, float[] out) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        int x1 = xo + cols;
        int x2 = x1 + cols;
        int x3 = x2 + cols;
        for (int b = 0; b < blocks; b++) {
            long bo = o + (long) BLOCK_BYTES * b;
            FloatVector e0 = FloatVector.zero(F);
            FloatVector e1 = e0;
            FloatVector e2 = e0;
            FloatVector e3 = e0;
            FloatVector f0 = e0;
            FloatVector f1 = e0;
            FloatVector f2 = e0;
            FloatVector f3 = e0;
            for (int p = 0; p < 16; p++) {
                ShortVector s = ShortVector.fromMemorySegment(S16, w, bo + 32 + 32L * p, LE);
                FloatVector lo = (FloatVector) s.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 8)
                        .convertShape(VectorOperators.S2F, F, 0);
                FloatVector hi = (FloatVector) s.lanewise(VectorOperators.ASHR, 8)
                        .convertShape(VectorOperators.S2F, F, 0);
                int k = 32 * b + 2 * p;
                e0 = lo.fma(FloatVector.broadcast(F, x[xo + k]), e0);
                f0 = hi.fma(FloatVector.broadcast(F, x[xo + k + 1]), f0);
                e1 = lo.fma(FloatVector.broadcast(F, x[x1 + k]), e1);
                f1 = hi.fma(FloatVector.broadcast(F, x[x1 + k + 1]), f1);
                e2 = lo.fma(FloatVector.broadcast(F, x[x2 + k]), e2);
                f2 = hi.fma(FloatVector.broadcast(F, x[x2 + k + 1]), f2);
                e3 = lo.fma(FloatVector.broadcast(F, x[x3 + k]), e3);
                f3 = hi.fma(FloatVector.broadcast(F, x[x3 + k + 1]), f3);
            }
            FloatVector d = scales(w, bo);
            a0 = e0.add(f0).fma(d, a0);
            a1 = e1.add(f1).fma(d, a1);
            a2 = e2.add(f2).fma(d, a2);
            a3 = e3.add(f3).fma(d, a3);
        }
        a0.intoArray(out, 0);
        a1.intoArray(out, ROWS);
        a2.intoArray(out, 2 * ROWS);
        a3.intoArray(out, 3 * ROWS);
    }

    /** The tile at {@code o} times the token at {@code x[xo ..]}; results in {@code out[0 .. 16)}. */
    static void dotFloat1(MemorySegment w, long o, int blocks, float[] x, int xo, float[] out) {
        FloatVector a = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long bo = o + (long) BLOCK_BYTES * b;
            FloatVector e = FloatVector.zero(F);
            FloatVector f = e;
            for (int p = 0; p < 16; p++) {
                ShortVector s = ShortVector.fromMemorySegment(S16, w, bo + 32 + 32L * p, LE);
                int k = xo + 32 * b + 2 * p;
                e = ((FloatVector) s.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 8)
                        .convertShape(VectorOperators.S2F, F, 0)).fma(FloatVector.broadcast(F, x[k]), e);
                f = ((FloatVector) s.lanewise(VectorOperators.ASHR, 8).convertShape(VectorOperators.S2F, F, 0))
                        .fma(FloatVector.broadcast(F, x[k + 1]), f);
            }
            a = e.add(f).fma(scales(w, bo), a);
        }
        a.intoArray(out, 0);
    }
}
