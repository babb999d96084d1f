package io.tandem.engine.kernels;

import static io.tandem.engine.kernels.Decoders.B;
import static io.tandem.engine.kernels.Decoders.F;
import static io.tandem.engine.kernels.Decoders.FLOAT_LE;
import static io.tandem.engine.kernels.Decoders.L;
import static io.tandem.engine.kernels.Decoders.LE;
import static io.tandem.engine.kernels.Decoders.SHORT_LE;

import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Matrix multiplication of encoded weights with float activations:
 * {@code out[t * rows + r] = sum_c W[r][c] * x[t * cols + c]} for {@code x (n, cols)} and {@code out (n, rows)},
 * both row-major.
 *
 * <p>Two regimes, chosen by the token count {@code n}:
 * <ul>
 *   <li><b>Decode</b> ({@code n < }{@link #prefillThreshold()}): memory-bandwidth bound. Each thread walks its rows
 *       four at a time and streams every weight byte exactly once for all {@code n} tokens (tokens loop inside, two
 *       at a time, while the four rows sit in L1). F32 rows are read in place from the segment; Q8_0 with
 *       {@code n == 1} runs the integer kernel of {@link Q8Tiles} over the matrix's repacked
 *       {@link WeightMatrix#decodeTiles() tiles} where it has them, else decodes in registers from a heap copy of
 *       the four GGML rows ({@link #dot4Q8_0}); Q8_0 with tiles and {@code n > 1} widens each weight pair of a tile
 *       once for four tokens ({@link Q8Tiles#rowsMany}); every other case decodes the four rows once into a float
 *       scratch ({@link Decoders}) and reuses it for all tokens.</li>
 *   <li><b>Prefill</b>: compute bound. The activations are first transposed into token panels
 *       {@code xt[panel][col][L]} (L = float lanes, 16 with AVX-512) so that one vector holds one column of L tokens.
 *       Each thread then takes tiles of 8 weight rows, decodes 256 columns of them into a float scratch and runs an
 *       outer-product micro-kernel: per column, 8 broadcast weights times 2 token vectors into 16 accumulators, with no
 *       horizontal reductions. Partial sums for a tile live in a small per-thread buffer and are written to
 *       {@code out} once, after the last column block.</li>
 * </ul>
 * Measured dead ends, so they are not retried blindly (single core, cache-resident, CPU time): a fused Q4_K decode dot
 * product (codes widened in registers, the min term folded in through per-block sums of x) was no faster than decoding
 * to the scratch (90 vs 85 us for [512 x 1024]); the 4-bit formats are bound by widening work at ~3.5 GB/s per core,
 * far below memory bandwidth, since the Vector API exposes no int8 dot product.
 *
 * <p>F32 decode at batch 1, where the rest of the gap to the bandwidth probe sits (2026-11-22, AVX-512, 2 cores shared
 * with other builds, so read ratios measured in the same run):
 * <ul>
 *   <li>Not in the rest of the step: {@code io.tandem.bench.kernels.DecodeProfile F32 64} times a whole decode step
 *       and the same step's matmuls alone, alternately: the non-matmul part (norms, RoPE, KV stores, attention, their
 *       parallel loops) is 0.6-1.2 ms of a 29-45 ms step, 2-4%. At 1024 positions it is 5-6 ms (15-24%), nearly all
 *       decode attention reading the sequence's KV cache (25 MB per step); the vector exp in
 *       {@code PagedAttention}'s softmax took 0.5 ms off that.</li>
 *   <li>Dead end: one row at a time, one sequential stream per thread like the probe's, four accumulators
 *       ({@code StreamProbe F32 512 1}, alternating, three runs each): 77-87% of the probe per CPU-second, against
 *       88-92% for the four-row kernel. The four interleaved row streams are not what holds it back.</li>
 * </ul>
 *
 * <p>Q8_0 weights meet activations rounded to Q8_0 on every path ({@link Q8Activations}), as llama.cpp computes Q8_0
 * by Q8_0, so a token's results agree to float rounding whatever batch it is in. At batch 1 the matrix's
 * {@link WeightMatrix#decodeTiles() tiles} ({@link Q8Tiles}: 16-row tiles in huge pages) are multiplied in 16-bit
 * integer lanes by the activations as int8; the other paths use the rounded activations as floats, and read the
 * tiles too where there are some (prefill decodes a tile's blocks column-major, {@link #prefillTiles}), so a packed
 * matrix's GGML bytes are never read after packing. Why, and what the
 * float kernel before it (4-row tiles, every weight widened to float) measured and tried: docs/benchmarks.md,
 * "Q8_0 decode in 16-bit lanes" and "Q8_0 batch-1 decode: the harness, the per-matmul joins, the kernel".
 *
 * <p>Work is split across the pool by contiguous row ranges (multiples of the tile height), so threads write disjoint,
 * mostly separate parts of {@code out}.
 *
 * <p>Accumulation is in float with a different association than a sequential sum; results differ from a float64
 * reference by normal rounding only.
 *
 * <p>Thread safety: the methods are static and re-entrant from different threads as long as each uses its own
 * {@link ComputePool} and output arrays; they allocate only small per-call task tables (scratch buffers are
 * thread-local and reused).
 */
public final class Matmul {
    private Matmul() {
    }

    /**
     * Token count from which the tiled prefill kernel is used. Its token panels are L wide, so below one full panel
     * lanes are wasted. Measured single-threaded on a cache-resident [512 x 768] F32 matrix (AVX-512): the decode
     * kernels give ~75 GFLOP/s at n = 2 and ~88-91 at n = 8..15; the tiled kernel ~40 at n = 8 and ~76-86 at n = 16..32.
     * Overridable with {@code -Dtandem.matmul.prefillThreshold} for experiments.
     */
    private static final int PREFILL_THRESHOLD = Integer.getInteger("tandem.matmul.prefillThreshold", L);
    /** Column block of the prefill kernel: 8 rows x 256 floats = 8 KiB of decoded weights stay in L1. */
    private static final int KC = 256;
    /** Rows per prefill tile. */
    private static final int TR = 8;
    /** Rows per decode tile. */
    private static final int DR = 4;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static final class Scratch {
        float[] w = new float[0];
        float[] acc = new float[0];
        float[] xt = new float[0];
        float[] xtq = new float[0];
        byte[] bytes = new byte[0];
        float[] xr = new float[0];
        int[] xq = new int[0];
        float[] xd = new float[0];
        final float[] tiles = new float[2 * Q8Tiles.ROWS];
        final float[] tiles4 = new float[4 * Q8Tiles.ROWS];

        byte[] bytes(int size) {
            if (bytes.length < size) {
                bytes = new byte[size];
            }
            return bytes;
        }

        float[] w(int size) {
            if (w.length < size) {
                w = new float[size];
            }
            return w;
        }

        float[] acc(int size) {
            if (acc.length < size) {
                acc = new float[size];
            }
            return acc;
        }

        float[] xt(int size) {
            if (xt.length < size) {
                xt = new float[size];
            }
            return xt;
        }

        float[] xtq(int size) {
            if (xtq.length < size) {
                xtq = new float[size];
            }
            return xtq;
        }

        float[] xr(int size) {
            if (xr.length < size) {
                xr = new float[size];
            }
            return xr;
        }

        int[] xq(int size) {
            if (xq.length < size) {
                xq = new int[size];
            }
            return xq;
        }

        float[] xd(int size) {
            if (xd.length < size) {
                xd = new float[size];
            }
            return xd;
        }
    }

    /** The token count at and above which the prefill (GEMM) kernel is used. */
    public static int prefillThreshold() {
        return PREFILL_THRESHOLD;
    }

    /**
     * {@code out (n, w.rows) = x (n, w.cols) * W^T}.
     *
     * @param x   activations, at least {@code n * w.cols()} floats, row-major
     * @param out results, at least {@code n * w.rows()} floats, row-major; fully overwritten in that range
     */
    public static void matmul(ComputePool pool, WeightMatrix w, float[] x, int n, float[] out) {
        matmulMany(pool, new WeightMatrix[] {w}, x, n, new float[][] {out});
    }

    /**
     * Several matmuls sharing the input {@code x} (fused q/k/v or gate/up projections) in one parallel dispatch:
     * {@code outs[i] (n, ws[i].rows) = x (n, cols) * ws[i]^T}. All matrices must have the same {@code cols}.
     */
    public static void matmulMany(ComputePool pool, WeightMatrix[] ws, float[] x, int n, float[][] outs) {
        Objects.requireNonNull(pool, "pool");
        Objects.requireNonNull(x, "x");
        if (ws.length == 0 || ws.length != outs.length) {
            throw new IllegalArgumentException(
                    "outs: " + outs.length + " arrays (expected: one per matrix, " + ws.length + ", at least one)");
        }
        if (n < 1) {
            throw new IllegalArgumentException("n: " + n + " (expected: >= 1)");
        }
        int cols = ws[0].cols();
        long totalRows = 0;
        for (int i = 0; i < ws.length; i++) {
            WeightMatrix w = Objects.requireNonNull(ws[i], "ws[" + i + "]");
            if (w.cols() != cols) {
                throw new IllegalArgumentException(
                        "ws[" + i + "].cols: " + w.cols() + " (expected: " + cols + ", as ws[0])");
            }
            if ((long) outs[i].length < (long) n * w.rows()) {
                throw new IllegalArgumentException("outs[" + i + "].length: " + outs[i].length
                        + " (expected: >= n * rows = " + (long) n * w.rows() + ")");
            }
            totalRows += w.rows();
        }
        if ((long) x.length < (long) n * cols) {
            throw new IllegalArgumentException(
                    "x.length: " + x.length + " (expected: >= n * cols = " + (long) n * cols + ")");
        }

        boolean prefill = n >= PREFILL_THRESHOLD;
        // Q8_0 weights meet Q8_0 activations on every path (Q8Activations): as integers in the batch-1 tiled kernel,
        // as the floats q * d everywhere else.
        boolean anyTiles = false;
        boolean anyQ8Float = false;
        boolean anyOther = false;
        for (WeightMatrix w : ws) {
            boolean tiled = n == 1 && w.decodeTiles() != null;
            anyTiles |= tiled;
            anyQ8Float |= w.type() == GgmlType.Q8_0 && !tiled;
            anyOther |= w.type() != GgmlType.Q8_0;
        }
        Scratch scratch = SCRATCH.get();
        float[] xr = null;
        int[] xq = null;
        float[] xd = null;
        if (anyTiles) {
            xq = scratch.xq(cols / 2);
            xd = scratch.xd(cols / 32);
            Q8Activations.quantize(x, 0, cols, xq, xd);
        }
        if (anyQ8Float) {
            xr = scratch.xr(n * cols);
            if (!prefill) { // prefill rounds each token panel in its transposition task
                for (int t = 0; t < n; t++) {
                    Q8Activations.round(x, t * cols, cols, xr, t * cols);
                }
            }
        }
        // Tasks start on Q8_0 tile boundaries (a multiple of DR and TR as well).
        int align = Q8Tiles.ROWS;
        // A few chunks per thread so that a thread slowed down by a neighbour process does not hold everyone up.
        long target = 4L * pool.threads();
        int chunk = (int) Math.max(prefill ? 2 * TR : 16, (totalRows + target - 1) / target);
        chunk = (chunk + align - 1) / align * align;
        int tasks = 0;
        for (WeightMatrix w : ws) {
            tasks += (w.rows() + chunk - 1) / chunk;
        }
        int[] taskMat = new int[tasks];
        int[] taskFrom = new int[tasks];
        int t = 0;
        for (int i = 0; i < ws.length; i++) {
            for (int r = 0; r < ws[i].rows(); r += chunk) {
                taskMat[t] = i;
                taskFrom[t] = r;
                t++;
            }
        }
        int chunkRows = chunk;
        float[] xq8 = xr;
        if (prefill) {
            int panels = (n + L - 1) / L;
            float[] xt = anyOther ? scratch.xt(panels * cols * L) : null;
            float[] xtq = anyQ8Float ? scratch.xtq(panels * cols * L) : null;
            pool.parallelFor(panels, p -> {
                if (xt != null) {
                    transposePanel(x, n, cols, p, xt);
                }
                if (xtq != null) {
                    for (int tok = p * L; tok < Math.min(n, (p + 1) * L); tok++) {
                        Q8Activations.round(x, tok * cols, cols, xq8, tok * cols);
                    }
                    transposePanel(xq8, n, cols, p, xtq);
                }
            });
            pool.parallelFor(tasks, i -> {
                WeightMatrix w = ws[taskMat[i]];
                int from = taskFrom[i];
                prefillRows(w, w.type() == GgmlType.Q8_0 ? xtq : xt, n, outs[taskMat[i]], from,
                        Math.min(w.rows(), from + chunkRows));
            });
        } else {
            int[] xqi = xq;
            float[] xdi = xd;
            pool.parallelFor(tasks, i -> {
                WeightMatrix w = ws[taskMat[i]];
                int from = taskFrom[i];
                int to = Math.min(w.rows(), from + chunkRows);
                MemorySegment tiles = w.decodeTiles();
                if (tiles != null && n == 1) {
                    Q8Tiles.rows(tiles, cols, xqi, xdi, outs[taskMat[i]], from, to, SCRATCH.get().tiles);
                } else if (tiles != null) {
                    Q8Tiles.rowsMany(tiles, w.rows(), cols, xq8, n, outs[taskMat[i]], from, to, SCRATCH.get().tiles4);
                } else {
                    decodeRows(w, w.type() == GgmlType.Q8_0 ? xq8 : x, n, outs[taskMat[i]], from, to);
                }
            });
        }
    }

    // ---- decode ------------------------------------------------------------------------------------------------

    static void decodeRows(WeightMatrix w, float[] x, int n, float[] out, int r0, int r1) {
        int rows = w.rows();
        int cols = w.cols();
        MemorySegment seg = w.data();
        long rowBytes = w.rowBytes();
        GgmlType type = w.type();
        if (type == GgmlType.F32) {
            // Rows are read in place: copying them to a scratch first measured slower for small n.
            int r = r0;
            for (; r + DR <= r1; r += DR) {
                long o = r * rowBytes;
                int t = 0;
                for (; t + 2 <= n; t += 2) {
                    dot4x2F32(seg, o, rowBytes, x, t * cols, cols, out, t * rows + r, rows);
                }
                if (t < n) {
                    dot4F32(seg, o, rowBytes, x, t * cols, cols, out, t * rows + r);
                }
            }
            for (; r < r1; r++) {
                for (int t = 0; t < n; t++) {
                    out[t * rows + r] = dotF32(seg, r * rowBytes, x, t * cols, cols);
                }
            }
            return;
        }
        if (type == GgmlType.Q8_0 && n == 1 && L == 16) {
            int r = r0;
            // Bulk-copying the four rows to a heap buffer first and decoding from there streams faster from DRAM
            // than decoding straight from the segment (see dot4Q8_0).
            int tileBytes = (int) (DR * rowBytes);
            byte[] buf = SCRATCH.get().bytes(tileBytes);
            for (; r + DR <= r1; r += DR) {
                MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, r * rowBytes, buf, 0, tileBytes);
                dot4Q8_0(buf, (int) rowBytes, x, cols / 32, out, r);
            }
            for (; r < r1; r++) {
                out[r] = dotQ8_0(seg, r * rowBytes, x, cols / 32);
            }
            return;
        }
        float[] ws = SCRATCH.get().w(DR * cols);
        int r = r0;
        for (; r + DR <= r1; r += DR) {
            for (int j = 0; j < DR; j++) {
                Decoders.decode(type, seg, (r + j) * rowBytes, 0, cols, ws, j * cols);
            }
            int t = 0;
            for (; t + 2 <= n; t += 2) {
                dot4x2(ws, x, t * cols, cols, out, t * rows + r, rows);
            }
            if (t < n) {
                dot4(ws, x, t * cols, cols, out, t * rows + r);
            }
        }
        for (; r < r1; r++) {
            Decoders.decode(type, seg, r * rowBytes, 0, cols, ws, 0);
            for (int t = 0; t < n; t++) {
                out[t * rows + r] = dot1(ws, x, t * cols, cols);
            }
        }
    }

    /** Four consecutive F32 rows starting at byte {@code o} dotted with {@code x[xo ..]}; results to out[oo..oo+4). */
    private static void dot4F32(MemorySegment seg, long o, long rowBytes, float[] x, int xo, int cols,
                                float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        long o1 = o + rowBytes;
        long o2 = o1 + rowBytes;
        long o3 = o2 + rowBytes;
        int c = 0;
        for (int bound = F.loopBound(cols); c < bound; c += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + c);
            long b = 4L * c;
            a0 = FloatVector.fromMemorySegment(F, seg, o + b, LE).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(F, seg, o1 + b, LE).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(F, seg, o2 + b, LE).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(F, seg, o3 + b, LE).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xo + c];
            s0 += seg.get(FLOAT_LE, o + 4L * c) * xc;
            s1 += seg.get(FLOAT_LE, o1 + 4L * c) * xc;
            s2 += seg.get(FLOAT_LE, o2 + 4L * c) * xc;
            s3 += seg.get(FLOAT_LE, o3 + 4L * c) * xc;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }

    private static float dotF32(MemorySegment seg, long o, float[] x, int xo, int cols) {
        FloatVector a0 = FloatVector.zero(F);
        int c = 0;
        for (int bound = F.loopBound(cols); c < bound; c += L) {
            a0 = FloatVector.fromMemorySegment(F, seg, o + 4L * c, LE).fma(FloatVector.fromArray(F, x, xo + c), a0);
        }
        float s = a0.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            s += seg.get(FLOAT_LE, o + 4L * c) * x[xo + c];
        }
        return s;
    }

    /**
     * Four Q8_0 rows dotted with one token (its activations already rounded to Q8_0), decoding in registers: per block,
     * sum(q * x) then scale by d. The path for Q8_0 matrices without {@link WeightMatrix#decodeTiles() tiles} (an
     * Inf or NaN scale, vectors narrower than 512 bits); those with tiles use {@link Q8Tiles}. The measurements below
     * are of this kernel.
     *
     * <p>Widening the weights to float was measured here against multiplying in the integer domain with the GGML
     * layout (byte to short widening, short multiply, pairwise add to int within each row, int to float, scale):
     * single core, cache-resident [512 x 1024], CPU time 40 us (float) vs 50 us (integer, including the activation
     * quantization), because each row's sum needs horizontal shuffles. {@link Q8Tiles} avoids them with a layout
     * that gives every row its own lane. Eight rows per pass (sharing the activation loads further) measured 2.5x
     * slower, probably because the larger method no longer gets {@link #q8} inlined and a non-inlined vector return
     * is boxed (not verified).
     *
     * <p>The four rows ({@code a}, row stride {@code rowBytes}) are a heap copy of the tile made with one bulk
     * {@link MemorySegment#copy}: decoding straight from a DRAM-resident segment reached only ~5 GB/s per core (vs ~13
     * from L2/L3), because each missing line has a dozen dependent decode uops that fill the scheduler, so few lines
     * are in flight; the plain copy keeps many misses outstanding. Measured with {@code StreamProbe Q8_0 1024 1}
     * (1 GiB stack, 2 threads, per CPU-second): ~10.4 GB/s (35% of read bandwidth) before, ~13 (42%) after.
     * Dead ends, same probe: touching the rows 256-1024 bytes ahead, one row per pass, or decoding to the scratch
     * first (no change); touching the next tile 1-5 tiles ahead, three lines per block (~12, 40%, and no gain on top
     * of the copy); touching the whole next tile with 64-byte loads before computing the current one (~10.8, 37%).
     * The same heap copy in front of the decode-to-scratch path (n = 4, 8) gave +5% at n = 4 and nothing at n = 8
     * (~8 and ~5.8 GB/s, compute bound in the float dot products), so it was not kept.
     * Dead end (2026-11-22, {@code StreamProbe Q8_0 512 1}, alternating, three runs each, machine shared): reading each
     * block's f16 scale with one little-endian short load (a byte-array view {@code VarHandle}) instead of two byte
     * loads: 43-45% of the probe per CPU-second against 44-46%, no change; the byte-to-float widening and the FMAs
     * are the cost, not the scale.
     */
    private static void dot4Q8_0(byte[] a, int rowBytes, float[] x, int blocks, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        int o1 = rowBytes;
        int o2 = 2 * rowBytes;
        int o3 = 3 * rowBytes;
        for (int b = 0; b < blocks; b++) {
            FloatVector x0 = FloatVector.fromArray(F, x, 32 * b);
            FloatVector x1 = FloatVector.fromArray(F, x, 32 * b + 16);
            int bo = 34 * b;
            FloatVector s0 = q8h(a, bo + 2).mul(x0);
            FloatVector s1 = q8h(a, o1 + bo + 2).mul(x0);
            FloatVector s2 = q8h(a, o2 + bo + 2).mul(x0);
            FloatVector s3 = q8h(a, o3 + bo + 2).mul(x0);
            s0 = q8h(a, bo + 18).fma(x1, s0);
            s1 = q8h(a, o1 + bo + 18).fma(x1, s1);
            s2 = q8h(a, o2 + bo + 18).fma(x1, s2);
            s3 = q8h(a, o3 + bo + 18).fma(x1, s3);
            a0 = s0.fma(FloatVector.broadcast(F, h16(a, bo)), a0);
            a1 = s1.fma(FloatVector.broadcast(F, h16(a, o1 + bo)), a1);
            a2 = s2.fma(FloatVector.broadcast(F, h16(a, o2 + bo)), a2);
            a3 = s3.fma(FloatVector.broadcast(F, h16(a, o3 + bo)), a3);
        }
        out[oo] = a0.reduceLanes(VectorOperators.ADD);
        out[oo + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[oo + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[oo + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    private static float h16(byte[] a, int i) {
        return Float.float16ToFloat((short) ((a[i] & 0xFF) | (a[i + 1] << 8)));
    }

    private static FloatVector q8h(byte[] a, int off) {
        return (FloatVector) ByteVector.fromArray(B, a, off).convertShape(VectorOperators.B2F, F, 0);
    }

    /** 16 int8 quants at {@code off} widened to floats (small enough that C2 inlines it; verified by timing). */
    private static FloatVector q8(MemorySegment seg, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(B, seg, off, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    private static float dotQ8_0(MemorySegment seg, long o, float[] x, int blocks) {
        FloatVector a0 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            long bo = o + 34L * b;
            FloatVector s = q8(seg, bo + 2).mul(FloatVector.fromArray(F, x, 32 * b));
            s = q8(seg, bo + 18).fma(FloatVector.fromArray(F, x, 32 * b + 16), s);
            a0 = s.fma(FloatVector.broadcast(F, Float.float16ToFloat(seg.get(SHORT_LE, bo))), a0);
        }
        return a0.reduceLanes(VectorOperators.ADD);
    }

    /** Rows {@code w[0..4)} of length cols (stride cols) dotted with {@code x[xo..]}. */
    private static void dot4(float[] w, float[] x, int xo, int cols, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        int c = 0;
        for (int bound = F.loopBound(cols); c < bound; c += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + c);
            a0 = FloatVector.fromArray(F, w, c).fma(xv, a0);
            a1 = FloatVector.fromArray(F, w, cols + c).fma(xv, a1);
            a2 = FloatVector.fromArray(F, w, 2 * cols + c).fma(xv, a2);
            a3 = FloatVector.fromArray(F, w, 3 * cols + c).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xo + c];
            s0 += w[c] * xc;
            s1 += w[cols + c] * xc;
            s2 += w[2 * cols + c] * xc;
            s3 += w[3 * cols + c] * xc;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
    }

    /** As {@link #dot4} for two tokens at once (x rows xo and xo + cols; out rows oo and oo + rows). */
    private static void dot4x2(float[] w, float[] x, int xo, int cols, float[] out, int oo, int rows) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F);
        FloatVector b1 = FloatVector.zero(F);
        FloatVector b2 = FloatVector.zero(F);
        FloatVector b3 = FloatVector.zero(F);
        int xo2 = xo + cols;
        int c = 0;
        for (int bound = F.loopBound(cols); c < bound; c += L) {
            FloatVector xa = FloatVector.fromArray(F, x, xo + c);
            FloatVector xb = FloatVector.fromArray(F, x, xo2 + c);
            FloatVector w0 = FloatVector.fromArray(F, w, c);
            FloatVector w1 = FloatVector.fromArray(F, w, cols + c);
            FloatVector w2 = FloatVector.fromArray(F, w, 2 * cols + c);
            FloatVector w3 = FloatVector.fromArray(F, w, 3 * cols + c);
            a0 = w0.fma(xa, a0);
            a1 = w1.fma(xa, a1);
            a2 = w2.fma(xa, a2);
            a3 = w3.fma(xa, a3);
            b0 = w0.fma(xb, b0);
            b1 = w1.fma(xb, b1);
            b2 = w2.fma(xb, b2);
            b3 = w3.fma(xb, b3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float t0 = b0.reduceLanes(VectorOperators.ADD);
        float t1 = b1.reduceLanes(VectorOperators.ADD);
        float t2 = b2.reduceLanes(VectorOperators.ADD);
        float t3 = b3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xo + c];
            float xd = x[xo2 + c];
            s0 += w[c] * xc;
            s1 += w[cols + c] * xc;
            s2 += w[2 * cols + c] * xc;
            s3 += w[3 * cols + c] * xc;
            t0 += w[c] * xd;
            t1 += w[cols + c] * xd;
            t2 += w[2 * cols + c] * xd;
            t3 += w[3 * cols + c] * xd;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
        out[oo + rows] = t0;
        out[oo + rows + 1] = t1;
        out[oo + rows + 2] = t2;
        out[oo + rows + 3] = t3;
    }

    /** As {@link #dot4F32} for two tokens (x rows xo and xo + cols; out rows oo and oo + rows). */
    private static void dot4x2F32(MemorySegment seg, long o, long rowBytes, float[] x, int xo, int cols, float[] out, int oo, int rows) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        FloatVector b0 = FloatVector.zero(F);
        FloatVector b1 = FloatVector.zero(F);
        FloatVector b2 = FloatVector.zero(F);
        FloatVector b3 = FloatVector.zero(F);
        int xo2 = xo + cols;
        long o1 = o + rowBytes;
        long o2 = o1 + rowBytes;
        long o3 = o2 + rowBytes;
        int c = 0;
        for (int bound = F.loopBound(cols); c < bound; c += L) {
            FloatVector xa = FloatVector.fromArray(F, x, xo + c);
            FloatVector xb = FloatVector.fromArray(F, x, xo2 + c);
            FloatVector w0 = FloatVector.fromMemorySegment(F, seg, o + 4L * c, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, seg, o1 + 4L * c, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, seg, o2 + 4L * c, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, seg, o3 + 4L * c, LE);
            a0 = w0.fma(xa, a0);
            a1 = w1.fma(xa, a1);
            a2 = w2.fma(xa, a2);
            a3 = w3.fma(xa, a3);
            b0 = w0.fma(xb, b0);
            b1 = w1.fma(xb, b1);
            b2 = w2.fma(xb, b2);
            b3 = w3.fma(xb, b3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float t0 = b0.reduceLanes(VectorOperators.ADD);
        float t1 = b1.reduceLanes(VectorOperators.ADD);
        float t2 = b2.reduceLanes(VectorOperators.ADD);
        float t3 = b3.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            float xc = x[xo + c];
            float xd = x[xo2 + c];
            float w0 = seg.get(FLOAT_LE, o + 4L * c);
            float w1 = seg.get(FLOAT_LE, o1 + 4L * c);
            float w2 = seg.get(FLOAT_LE, o2 + 4L * c);
            float w3 = seg.get(FLOAT_LE, o3 + 4L * c);
            s0 += w0 * xc;
            s1 += w1 * xc;
            s2 += w2 * xc;
            s3 += w3 * xc;
            t0 += w0 * xd;
            t1 += w1 * xd;
            t2 += w2 * xd;
            t3 += w3 * xd;
        }
        out[oo] = s0;
        out[oo + 1] = s1;
        out[oo + 2] = s2;
        out[oo + 3] = s3;
        out[oo + rows] = t0;
        out[oo + rows + 1] = t1;
        out[oo + rows + 2] = t2;
        out[oo + rows + 3] = t3;
    }

    private static float dot1(float[] w, float[] x, int xo, int cols) {
        FloatVector a0 = FloatVector.zero(F);
        int c = 0;
        for (int bound = F.loopBound(cols); c < bound; c += L) {
            a0 = FloatVector.fromArray(F, w, c).fma(FloatVector.fromArray(F, x, xo + c), a0);
        }
        float s = a0.reduceLanes(VectorOperators.ADD);
        for (; c < cols; c++) {
            s += w[c] * x[xo + c];
        }
        return s;
    }

    // ---- prefill -----------------------------------------------------------------------------------------------

    /** {@code xt[(p * cols + c) * L + j] = x[(p * L + j) * cols + c]}, zero for tokens past n. */
    private static void transposePanel(float[] x, int n, int cols, int p, float[] xt) {
        int base = p * cols * L;
        int t0 = p * L;
        int valid = Math.min(L, n - t0);
        // Column blocks keep the L source rows' current lines and the written lines in L1.
        for (int c0 = 0; c0 < cols; c0 += 64) {
            int c1 = Math.min(cols, c0 + 64);
            for (int j = 0; j < L; j++) {
                if (j < valid) {
                    int src = (t0 + j) * cols;
                    for (int c = c0; c < c1; c++) {
                        xt[base + c * L + j] = x[src + c];
                    }
                } else {
                    for (int c = c0; c < c1; c++) {
                        xt[base + c * L + j] = 0f;
                    }
                }
            }
        }
    }

    static void prefillRows(WeightMatrix w, float[] xt, int n, float[] out, int r0, int r1) {
        int rows = w.rows();
        int cols = w.cols();
        int panels = (n + L - 1) / L;
        int npad = panels * L;
        MemorySegment seg = w.data();
        long rowBytes = w.rowBytes();
        GgmlType type = w.type();
        Scratch s = SCRATCH.get();
        MemorySegment tiles = w.decodeTiles();
        if (tiles != null) {
            prefillTiles(tiles, w, xt, n, out, r0, r1, s);
            return;
        }
        float[] ws = s.w(TR * KC);
        float[] acc = s.acc(TR * npad);
        for (int rt = r0; rt < r1; rt += TR) {
            int tileRows = Math.min(TR, r1 - rt);
            for (int k0 = 0; k0 < cols; k0 += KC) {
                int kc = Math.min(KC, cols - k0);
                for (int j = 0; j < TR; j++) {
                    if (j < tileRows) {
                        Decoders.decode(type, seg, (rt + j) * rowBytes, k0, kc, ws, j * kc);
                    } else {
                        java.util.Arrays.fill(ws, j * kc, (j + 1) * kc, 0f);
                    }
                }
                boolean first = k0 == 0;
                int p = 0;
                for (; p + 2 <= panels; p += 2) {
                    kernel8x2(ws, 0, false, kc, xt, (p * cols + k0) * L, ((p + 1) * cols + k0) * L, acc, npad, p * L,
                            first);
                }
                if (p < panels) {
                    kernel8x1(ws, 0, false, kc, xt, (p * cols + k0) * L, acc, npad, p * L, first);
                }
            }
            for (int j = 0; j < tileRows; j++) {
                int a = j * npad;
                int r = rt + j;
                for (int t = 0; t < n; t++) {
                    out[t * rows + r] = acc[a + t];
                }
            }
        }
    }

    /**
     * {@link #prefillRows} for a Q8_0 matrix with {@link WeightMatrix#decodeTiles() tiles}: each 16-row tile's
     * column block is decoded once from the tiles ({@link Q8Tiles#decodeBlock}, column-major) and runs through the
     * same micro-kernel as two 8-row halves, so prefill does not read the GGML mapping. {@code r0} is a multiple of
     * 16.
     */
    private static void prefillTiles(MemorySegment tiles, WeightMatrix w, float[] xt, int n, float[] out, int r0,
                                     int r1, Scratch s) {
        int rows = w.rows();
        int cols = w.cols();
        int panels = (n + L - 1) / L;
        int npad = panels * L;
        int tr = Q8Tiles.ROWS;
        float[] ws = s.w(tr * KC);
        float[] acc = s.acc(tr * npad);
        long tileBytes = Q8Tiles.tileBytes(cols);
        for (int rt = r0; rt < r1; rt += tr) {
            int tileRows = Math.min(tr, r1 - rt);
            long o = (rt / tr) * tileBytes;
            for (int k0 = 0; k0 < cols; k0 += KC) {
                int kc = Math.min(KC, cols - k0);
                for (int b = k0 / 32; b < (k0 + kc) / 32; b++) {
                    Q8Tiles.decodeBlock(tiles, o, b, ws, tr * (32 * b - k0));
                }
                boolean first = k0 == 0;
                for (int h = 0; h < tr; h += TR) {
                    if (h >= tileRows) {
                        break;
                    }
                    int p = 0;
                    for (; p + 2 <= panels; p += 2) {
                        kernel8x2(ws, h, true, kc, xt, (p * cols + k0) * L, ((p + 1) * cols + k0) * L, acc, npad,
                                h * npad + p * L, first);
                    }
                    if (p < panels) {
                        kernel8x1(ws, h, true, kc, xt, (p * cols + k0) * L, acc, npad, h * npad + p * L, first);
                    }
                }
            }
            for (int j = 0; j < tileRows; j++) {
                int a = j * npad;
                int r = rt + j;
                for (int t = 0; t < n; t++) {
                    out[t * rows + r] = acc[a + t];
                }
            }
        }
    }

    /**
     * 8 rows x 2 token panels: {@code acc[r][t] += sum_c W[r][c] * xt[c][t]} over {@code c < kc}, where W is
     * {@code ws[wo + r * kc + c]} (decoded rows, row-major) or, with {@code tile}, {@code ws[wo + r + 16 * c]} (a
     * decoded Q8_0 tile, column-major), panel columns of L floats at xa/xb, and acc rows of stride npad starting at
     * column t0.
     */
    private static void kernel8x2(float[] ws, int wo, boolean tile, int kc, float[] xt, int xa, int xb,
                                  float[] acc, int npad, int t0, boolean first) {
        FloatVector a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51, a60, a61, a70, a71;
        if (first) {
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = FloatVector.zero(F);
            a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = FloatVector.zero(F);
        } else {
            a00 = FloatVector.fromArray(F, acc, t0);
            a01 = FloatVector.fromArray(F, acc, t0 + L);
            a10 = FloatVector.fromArray(F, acc, npad + t0);
            a11 = FloatVector.fromArray(F, acc, npad + t0 + L);
            a20 = FloatVector.fromArray(F, acc, 2 * npad + t0);
            a21 = FloatVector.fromArray(F, acc, 2 * npad + t0 + L);
            a30 = FloatVector.fromArray(F, acc, 3 * npad + t0);
            a31 = FloatVector.fromArray(F, acc, 3 * npad + t0 + L);
            a40 = FloatVector.fromArray(F, acc, 4 * npad + t0);
            a41 = FloatVector.fromArray(F, acc, 4 * npad + t0 + L);
            a50 = FloatVector.fromArray(F, acc, 5 * npad + t0);
            a51 = FloatVector.fromArray(F, acc, 5 * npad + t0 + L);
            a60 = FloatVector.fromArray(F, acc, 6 * npad + t0);
            a61 = FloatVector.fromArray(F, acc, 6 * npad + t0 + L);
            a70 = FloatVector.fromArray(F, acc, 7 * npad + t0);
            a71 = FloatVector.fromArray(F, acc, 7 * npad + t0 + L);
        }
        // Two copies of the loop, so that each load's index is the loop variable times a constant plus an invariant
        // and C2 removes the bounds checks (a stride passed in as a variable kept them: 3-4 % slower F32 prefill).
        if (tile) {
            for (int c = 0; c < kc; c++) {
                FloatVector x0 = FloatVector.fromArray(F, xt, xa + c * L);
                FloatVector x1 = FloatVector.fromArray(F, xt, xb + c * L);
                int o = wo + Q8Tiles.ROWS * c;
                FloatVector w;
                w = FloatVector.broadcast(F, ws[o]);
                a00 = w.fma(x0, a00);
                a01 = w.fma(x1, a01);
                w = FloatVector.broadcast(F, ws[o + 1]);
                a10 = w.fma(x0, a10);
                a11 = w.fma(x1, a11);
                w = FloatVector.broadcast(F, ws[o + 2]);
                a20 = w.fma(x0, a20);
                a21 = w.fma(x1, a21);
                w = FloatVector.broadcast(F, ws[o + 3]);
                a30 = w.fma(x0, a30);
                a31 = w.fma(x1, a31);
                w = FloatVector.broadcast(F, ws[o + 4]);
                a40 = w.fma(x0, a40);
                a41 = w.fma(x1, a41);
                w = FloatVector.broadcast(F, ws[o + 5]);
                a50 = w.fma(x0, a50);
                a51 = w.fma(x1, a51);
                w = FloatVector.broadcast(F, ws[o + 6]);
                a60 = w.fma(x0, a60);
                a61 = w.fma(x1, a61);
                w = FloatVector.broadcast(F, ws[o + 7]);
                a70 = w.fma(x0, a70);
                a71 = w.fma(x1, a71);
            }
        } else {
            for (int c = 0; c < kc; c++) {
                FloatVector x0 = FloatVector.fromArray(F, xt, xa + c * L);
                FloatVector x1 = FloatVector.fromArray(F, xt, xb + c * L);
                int o = wo + c;
                FloatVector w;
                w = FloatVector.broadcast(F, ws[o]);
                a00 = w.fma(x0, a00);
                a01 = w.fma(x1, a01);
                w = FloatVector.broadcast(F, ws[o + kc]);
                a10 = w.fma(x0, a10);
                a11 = w.fma(x1, a11);
                w = FloatVector.broadcast(F, ws[o + 2 * kc]);
                a20 = w.fma(x0, a20);
                a21 = w.fma(x1, a21);
                w = FloatVector.broadcast(F, ws[o + 3 * kc]);
                a30 = w.fma(x0, a30);
                a31 = w.fma(x1, a31);
                w = FloatVector.broadcast(F, ws[o + 4 * kc]);
                a40 = w.fma(x0, a40);
                a41 = w.fma(x1, a41);
                w = FloatVector.broadcast(F, ws[o + 5 * kc]);
                a50 = w.fma(x0, a50);
                a51 = w.fma(x1, a51);
                w = FloatVector.broadcast(F, ws[o + 6 * kc]);
                a60 = w.fma(x0, a60);
                a61 = w.fma(x1, a61);
                w = FloatVector.broadcast(F, ws[o + 7 * kc]);
                a70 = w.fma(x0, a70);
                a71 = w.fma(x1, a71);
            }
        }
        a00.intoArray(acc, t0);
        a01.intoArray(acc, t0 + L);
        a10.intoArray(acc, npad + t0);
        a11.intoArray(acc, npad + t0 + L);
        a20.intoArray(acc, 2 * npad + t0);
        a21.intoArray(acc, 2 * npad + t0 + L);
        a30.intoArray(acc, 3 * npad + t0);
        a31.intoArray(acc, 3 * npad + t0 + L);
        a40.intoArray(acc, 4 * npad + t0);
        a41.intoArray(acc, 4 * npad + t0 + L);
        a50.intoArray(acc, 5 * npad + t0);
        a51.intoArray(acc, 5 * npad + t0 + L);
        a60.intoArray(acc, 6 * npad + t0);
        a61.intoArray(acc, 6 * npad + t0 + L);
        a70.intoArray(acc, 7 * npad + t0);
        a71.intoArray(acc, 7 * npad + t0 + L);
    }

    /** As {@link #kernel8x2} for a single (last) panel. */
    private static void kernel8x1(float[] ws, int wo, boolean tile, int kc, float[] xt, int xa, float[] acc,
                                  int npad, int t0, boolean first) {
        FloatVector a0, a1, a2, a3, a4, a5, a6, a7;
        if (first) {
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = FloatVector.zero(F);
        } else {
            a0 = FloatVector.fromArray(F, acc, t0);
            a1 = FloatVector.fromArray(F, acc, npad + t0);
            a2 = FloatVector.fromArray(F, acc, 2 * npad + t0);
            a3 = FloatVector.fromArray(F, acc, 3 * npad + t0);
            a4 = FloatVector.fromArray(F, acc, 4 * npad + t0);
            a5 = FloatVector.fromArray(F, acc, 5 * npad + t0);
            a6 = FloatVector.fromArray(F, acc, 6 * npad + t0);
            a7 = FloatVector.fromArray(F, acc, 7 * npad + t0);
        }
        if (tile) { // two copies of the loop, as in kernel8x2
            for (int c = 0; c < kc; c++) {
                FloatVector x0 = FloatVector.fromArray(F, xt, xa + c * L);
                int o = wo + Q8Tiles.ROWS * c;
                a0 = FloatVector.broadcast(F, ws[o]).fma(x0, a0);
                a1 = FloatVector.broadcast(F, ws[o + 1]).fma(x0, a1);
                a2 = FloatVector.broadcast(F, ws[o + 2]).fma(x0, a2);
                a3 = FloatVector.broadcast(F, ws[o + 3]).fma(x0, a3);
                a4 = FloatVector.broadcast(F, ws[o + 4]).fma(x0, a4);
                a5 = FloatVector.broadcast(F, ws[o + 5]).fma(x0, a5);
                a6 = FloatVector.broadcast(F, ws[o + 6]).fma(x0, a6);
                a7 = FloatVector.broadcast(F, ws[o + 7]).fma(x0, a7);
            }
        } else {
            for (int c = 0; c < kc; c++) {
                FloatVector x0 = FloatVector.fromArray(F, xt, xa + c * L);
                int o = wo + c;
                a0 = FloatVector.broadcast(F, ws[o]).fma(x0, a0);
                a1 = FloatVector.broadcast(F, ws[o + kc]).fma(x0, a1);
                a2 = FloatVector.broadcast(F, ws[o + 2 * kc]).fma(x0, a2);
                a3 = FloatVector.broadcast(F, ws[o + 3 * kc]).fma(x0, a3);
                a4 = FloatVector.broadcast(F, ws[o + 4 * kc]).fma(x0, a4);
                a5 = FloatVector.broadcast(F, ws[o + 5 * kc]).fma(x0, a5);
                a6 = FloatVector.broadcast(F, ws[o + 6 * kc]).fma(x0, a6);
                a7 = FloatVector.broadcast(F, ws[o + 7 * kc]).fma(x0, a7);
            }
        }
        a0.intoArray(acc, t0);
        a1.intoArray(acc, npad + t0);
        a2.intoArray(acc, 2 * npad + t0);
        a3.intoArray(acc, 3 * npad + t0);
        a4.intoArray(acc, 4 * npad + t0);
        a5.intoArray(acc, 5 * npad + t0);
        a6.intoArray(acc, 6 * npad + t0);
        a7.intoArray(acc, 7 * npad + t0);
    }
}
