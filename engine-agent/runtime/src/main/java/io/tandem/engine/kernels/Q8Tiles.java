package io.tandem.engine.kernels;

import static io.tandem.engine.kernels.Decoders.B;
import static io.tandem.engine.kernels.Decoders.F;
import static io.tandem.engine.kernels.Decoders.I;
import static io.tandem.engine.kernels.Decoders.L;
import static io.tandem.engine.kernels.Decoders.LE;
import static io.tandem.engine.kernels.Decoders.S;

import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import static jdk.incubator.vector.VectorOperators.B2F;

/**
 * Q8_0 weights repacked once, at load time, for the batch-1 decode kernel: one strictly sequential stream per tile of
 * four rows, in huge-page-backed memory ({@link HugePages}).
 *
 * <p>Layout, per tile of {@link #ROWS} rows (the last tile padded with zero rows), per group of up to {@link #GROUP}
 * consecutive 32-weight blocks:
 * <pre>
 *   64 bytes   f16 scales, index j * 4 + r  (block j of the group, row r of the tile; unused entries 0)
 *   nb * 128   quants: for each block j, rows 0..3 of it, 32 int8 each
 * </pre>
 * A group is {@code 64 + 128 * nb} bytes, 1088 for a full one (17 cache lines), so every group starts 64-byte aligned
 * and a matrix takes the same bytes as its GGML encoding plus the unused part of a partial group's header (when the
 * block count is not a multiple of 8) and the padding rows of the last tile. Tiles follow each other; tile {@code t} starts at
 * {@code t * tileBytes(cols)}.
 *
 * <p>Why (measured 2026-11-22 with {@code io.tandem.bench.kernels.Q8LayoutProbe 512}: one large matrix, 2 threads,
 * Q8_0 bytes per CPU-second against the bandwidth probe; details and dead ends in {@code Matmul}'s class Javadoc): the
 * GGML layout, in place or through a heap copy, streams at 40-50% of the probe with 4 KiB or 2 MiB pages alike; this
 * layout in 4 KiB pages at 44-49%; this layout in 2 MiB pages at 59-72% (66-68% in the engine's final kernel). Both parts are needed: one ascending stream
 * that the prefetcher can follow, and pages large enough that it is not cut every 4 KiB. f16 scales converted to f32
 * at pack time (36 bytes per block instead of 34) measured 53-64%.
 *
 * <p>Per lane the kernel does the float operations of {@code Matmul.dot4Q8_0} in the same order (widen, multiply by
 * x, fused multiply-add, scale by fused multiply-add), so results agree with the GGML-layout path to the rounding of
 * the final lane reduction.
 *
 * <p>Thread-safe: packing writes only the new segment; the kernel reads only.
 */
final class Q8Tiles {
    private Q8Tiles() {
    }

    /** Rows per tile, as the decode kernel's tile height. */
    static final int ROWS = 4;
    /** Blocks per group: 4 rows x 8 blocks of scales fill one 64-byte header. */
    static final int GROUP = 8;
    private static final int HEADER = 64;

    /** Whether this machine's vectors suit the kernel (16 float lanes: one block half per vector). */
    static boolean supported() {
        return L == 16;
    }

    /** Bytes of one tile of a matrix with {@code cols} columns. */
    static long tileBytes(int cols) {
        int blocks = cols / 32;
        int groups = (blocks + GROUP - 1) / GROUP;
        return (long) groups * HEADER + 128L * blocks;
    }

    /**
     * A copy of Q8_0 matrix {@code w} in the tiled layout, freed with {@code owner}, or null if a block scale is Inf or
     * NaN (such a matrix keeps the GGML-layout kernel, whose scale conversion handles them).
     */
    static MemorySegment pack(WeightMatrix w, java.lang.foreign.Arena owner) {
        if (w.type() != GgmlType.Q8_0) {
            throw new IllegalArgumentException("type: " + w.type() + " (expected: Q8_0)");
        }
        int rows = w.rows();
        int blocks = w.cols() / 32;
        long tileBytes = tileBytes(w.cols());
        int tiles = (rows + ROWS - 1) / ROWS;
        MemorySegment dst = HugePages.allocate(tiles * tileBytes, owner);
        MemorySegment src = w.data();
        long rowBytes = w.rowBytes();
        for (int t = 0; t < tiles; t++) {
            long o = t * tileBytes;
            for (int b0 = 0; b0 < blocks; b0 += GROUP) {
                int nb = Math.min(GROUP, blocks - b0);
                for (int j = 0; j < nb; j++) {
                    for (int r = 0; r < ROWS; r++) {
                        int row = ROWS * t + r;
                        if (row >= rows) {
                            continue; // padding rows stay zero: scale 0, quants 0
                        }
                        long so = row * rowBytes + 34L * (b0 + j);
                        short d = src.get(ValueLayout.JAVA_SHORT_UNALIGNED, so);
                        if ((d & 0x7C00) == 0x7C00) {
                            return null;
                        }
                        dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, o + 2L * (j * ROWS + r), d);
                        MemorySegment.copy(src, so + 2, dst, o + HEADER + 128L * j + 32L * r, 32);
                    }
                }
                o += HEADER + 128L * nb;
            }
        }
        return dst;
    }

    /**
     * Rows {@code [r0, r1)} ({@code r0} a multiple of {@link #ROWS}) of the tiled matrix dotted with {@code x}, into
     * {@code out[r0 .. r1)}. The tile loop lives here rather than in {@code Matmul.decodeRows} so that the kernel is
     * compiled into this small method instead of the large one (measured ~7% faster cache-resident).
     */
    static void rows(MemorySegment tiles, int cols, float[] x, float[] out, int r0, int r1, float[] sc) {
        long tileBytes = tileBytes(cols);
        int blocks = cols / 32;
        for (int r = r0; r < r1; r += ROWS) {
            dot4(tiles, (r / ROWS) * tileBytes, blocks, x, out, r, Math.min(ROWS, r1 - r), sc);
        }
    }

    /**
     * Tile {@code t} of {@code tiles} (a matrix with {@code blocks} blocks per row) dotted with {@code x[0 .. 32 *
     * blocks)}; the first {@code valid} of its four results go to {@code out[oo ..]}. {@code sc} is a scratch of at
     * least 32 floats.
     */
    static void dot4(MemorySegment tiles, long o, int blocks, float[] x, float[] out, int oo, int valid, float[] sc) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int b0 = 0; b0 < blocks; b0 += GROUP) {
            int nb = Math.min(GROUP, blocks - b0);
            // The group's 32 scales, f16 -> f32 as Decoders.decodeF16 does, exact for every finite value (subnormals
            // included); Inf/NaN scales never get here (pack declines them), which saves Decoders' fix-up for them:
            // those five more vector operations per half measured 8% of the DRAM rate (66-68% -> 60-62% of the probe).
            // Then each is broadcast from the scratch: a broadcast load costs no shuffle port, unlike a per-block
            // scalar decode.
            for (int h = 0; h < 2; h++) {
                IntVector v = (IntVector) ShortVector.fromMemorySegment(S, tiles, o + 32L * h, LE)
                        .convertShape(VectorOperators.S2I, I, 0);
                IntVector sign = v.and(0x8000).lanewise(VectorOperators.LSHL, 16);
                IntVector em = v.and(0x7FFF);
                IntVector bits = em.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f)
                        .reinterpretAsInts();
                bits.or(sign).reinterpretAsFloats().intoArray(sc, 16 * h);
            }
            long q = o + HEADER;
            // The int8 -> float conversions are written out rather than put in a helper: when this method was
            // inlined into Matmul.decodeRows, a helper returning a vector was not inlined in turn, so every vector it
            // returned was boxed (measured 2.3x slower, cache-resident).
            for (int j = 0; j < nb; j++) {
                int xo = 32 * (b0 + j);
                FloatVector x0 = FloatVector.fromArray(F, x, xo);
                FloatVector x1 = FloatVector.fromArray(F, x, xo + 16);
                long qj = q + 128L * j;
                FloatVector s0 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj, LE).convertShape(B2F, F, 0)).mul(x0);
                FloatVector s1 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 32, LE).convertShape(B2F, F, 0)).mul(x0);
                FloatVector s2 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 64, LE).convertShape(B2F, F, 0)).mul(x0);
                FloatVector s3 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 96, LE).convertShape(B2F, F, 0)).mul(x0);
                s0 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 16, LE).convertShape(B2F, F, 0)).fma(x1, s0);
                s1 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 48, LE).convertShape(B2F, F, 0)).fma(x1, s1);
                s2 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 80, LE).convertShape(B2F, F, 0)).fma(x1, s2);
                s3 = ((FloatVector) ByteVector.fromMemorySegment(B, tiles, qj + 112, LE).convertShape(B2F, F, 0)).fma(x1, s3);
                a0 = s0.fma(FloatVector.broadcast(F, sc[4 * j]), a0);
                a1 = s1.fma(FloatVector.broadcast(F, sc[4 * j + 1]), a1);
                a2 = s2.fma(FloatVector.broadcast(F, sc[4 * j + 2]), a2);
                a3 = s3.fma(FloatVector.broadcast(F, sc[4 * j + 3]), a3);
            }
            o += HEADER + 128L * nb;
        }
        float r0 = a0.reduceLanes(VectorOperators.ADD);
        float r1 = a1.reduceLanes(VectorOperators.ADD);
        float r2 = a2.reduceLanes(VectorOperators.ADD);
        float r3 = a3.reduceLanes(VectorOperators.ADD);
        if (valid == ROWS) {
            out[oo] = r0;
            out[oo + 1] = r1;
            out[oo + 2] = r2;
            out[oo + 3] = r3;
            return;
        }
        out[oo] = r0;
        if (valid > 1) {
            out[oo + 1] = r1;
        }
        if (valid > 2) {
            out[oo + 2] = r2;
        }
    }
}
