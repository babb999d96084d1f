package io.tandem.engine.model;

import io.tandem.engine.kernels.VectorOps;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvLayout;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import java.lang.foreign.ValueLayout;

/**
 * Causal self-attention over a sequence whose keys and values live in paged KV-cache blocks, in two forms:
 * {@link #attend}, one query head of one token (decode), and {@link #attendBlock}, a block of (token, query head) rows
 * of a prefill chunk that share every key and value load, with an online softmax.
 *
 * <p>Position {@code j} of a sequence sits in block {@code blockTable[j / blockSize]} at slot
 * {@code j % blockSize}; within a block the keys of one (layer, kv head) are {@code blockSize * headDim}
 * contiguous floats, so each block's run of keys streams with vector loads.
 *
 * <p>Stateless apart from the caller's scratch and per-thread scratch buffers; safe to call from many threads at once
 * on different outputs.
 */
public final class PagedAttention {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PagedAttention() {
    }

    /** Writes one token's K and V rows ({@code (n_kv_heads, head_dim)} each) into its cache slot. */
    public static void store(KvCache cache, int layer, int[] blockTable, int pos,
                             float[] k, int kOff, float[] v, int vOff) {
        KvLayout l = cache.layout();
        int bs = l.blockSize();
        long base = cache.blockOffset(blockTable[pos / bs]);
        int slot = pos % bs;
        MemorySegment arena = cache.arena();
        for (int h = 0; h < l.nKvHeads(); h++) {
            MemorySegment.copy(k, kOff + h * l.headDim(), arena, ValueLayout.JAVA_FLOAT_UNALIGNED,
                    base + l.offsetInBlock(layer, 0, h, slot), l.headDim());
            MemorySegment.copy(v, vOff + h * l.headDim(), arena, ValueLayout.JAVA_FLOAT_UNALIGNED,
                    base + l.offsetInBlock(layer, 1, h, slot), l.headDim());
        }
    }

    /**
     * out[outOff .. outOff+headDim) = softmax(q . K[0..len) * scale) . V[0..len) for kv head {@code kvHead}.
     *
     * @param scores scratch of at least {@code len} floats
     */
    public static void attend(KvCache cache, int layer, int kvHead, int[] blockTable, int len,
                              float[] q, int qOff, float scale, float[] scores, float[] out, int outOff) {
        KvLayout l = cache.layout();
        int bs = l.blockSize();
        int hd = l.headDim();
        long tokenStride = l.tokenStride();
        long kInBlock = l.offsetInBlock(layer, 0, kvHead, 0);
        long vInBlock = l.offsetInBlock(layer, 1, kvHead, 0);
        MemorySegment arena = cache.arena();
        if (hd == 4 * F.length()) {
            attend4(cache, arena, bs, tokenStride, kInBlock, vInBlock, blockTable, len, q, qOff, scale, scores, out,
                    outOff);
            return;
        }

        float max = Float.NEGATIVE_INFINITY;
        for (int start = 0; start < len; start += bs) {
            long kBase = cache.blockOffset(blockTable[start / bs]) + kInBlock;
            int end = Math.min(len, start + bs);
            for (int j = start; j < end; j++) {
                float s = VectorOps.dot(q, qOff, arena, kBase + (j - start) * tokenStride, hd) * scale;
                scores[j] = s;
                if (s > max) {
                    max = s;
                }
            }
        }
        float inv = 1f / expInPlace(scores, len, max);
        java.util.Arrays.fill(out, outOff, outOff + hd, 0f);
        for (int start = 0; start < len; start += bs) {
            long vBase = cache.blockOffset(blockTable[start / bs]) + vInBlock;
            int end = Math.min(len, start + bs);
            for (int j = start; j < end; j++) {
                VectorOps.axpy(scores[j] * inv, arena, vBase + (j - start) * tokenStride, out, outOff, hd);
            }
        }
    }

    /**
     * scores[j] = exp(scores[j] - max) for j < len; returns their sum. A vector of scores at a time with the Vector
     * API's exp: the scalar {@code Math.exp} per position was a quarter of a decode step's time at 1024 positions.
     */
    private static float expInPlace(float[] scores, int len, float max) {
        FloatVector m = FloatVector.broadcast(F, max);
        FloatVector acc = FloatVector.zero(F);
        int j = 0;
        for (int bound = F.loopBound(len); j < bound; j += F.length()) {
            FloatVector e = FloatVector.fromArray(F, scores, j).sub(m).lanewise(VectorOperators.EXP);
            e.intoArray(scores, j);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; j < len; j++) {
            float e = (float) Math.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        return sum;
    }

    /**
     * The same for a head of exactly four vectors (head_dim 64 with AVX-512, 32 with AVX2), the common case:
     * q and the output accumulator stay in registers for the whole sequence instead of being reloaded (and the
     * output stored) once per position, which is what made long prompts' attention dominate prefill.
     */
    private static void attend4(KvCache cache, MemorySegment arena, int bs, long tokenStride, long kInBlock,
                                long vInBlock, int[] blockTable, int len, float[] q, int qOff, float scale,
                                float[] scores, float[] out, int outOff) {
        int lanes = F.length();
        long vecBytes = (long) lanes * Float.BYTES;
        FloatVector q0 = FloatVector.fromArray(F, q, qOff).mul(scale);
        FloatVector q1 = FloatVector.fromArray(F, q, qOff + lanes).mul(scale);
        FloatVector q2 = FloatVector.fromArray(F, q, qOff + 2 * lanes).mul(scale);
        FloatVector q3 = FloatVector.fromArray(F, q, qOff + 3 * lanes).mul(scale);
        float max = Float.NEGATIVE_INFINITY;
        for (int start = 0; start < len; start += bs) {
            long kBase = cache.blockOffset(blockTable[start / bs]) + kInBlock;
            int end = Math.min(len, start + bs);
            for (int j = start; j < end; j++) {
                long o = kBase + (j - start) * tokenStride;
                FloatVector acc = FloatVector.fromMemorySegment(F, arena, o, LE).mul(q0);
                acc = FloatVector.fromMemorySegment(F, arena, o + vecBytes, LE).fma(q1, acc);
                acc = FloatVector.fromMemorySegment(F, arena, o + 2 * vecBytes, LE).fma(q2, acc);
                acc = FloatVector.fromMemorySegment(F, arena, o + 3 * vecBytes, LE).fma(q3, acc);
                float sc = acc.reduceLanes(VectorOperators.ADD);
                scores[j] = sc;
                if (sc > max) {
                    max = sc;
                }
            }
        }
        float inv = 1f / expInPlace(scores, len, max);
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int start = 0; start < len; start += bs) {
            long vBase = cache.blockOffset(blockTable[start / bs]) + vInBlock;
            int end = Math.min(len, start + bs);
            for (int j = start; j < end; j++) {
                long o = vBase + (j - start) * tokenStride;
                FloatVector p = FloatVector.broadcast(F, scores[j]);
                a0 = FloatVector.fromMemorySegment(F, arena, o, LE).fma(p, a0);
                a1 = FloatVector.fromMemorySegment(F, arena, o + vecBytes, LE).fma(p, a1);
                a2 = FloatVector.fromMemorySegment(F, arena, o + 2 * vecBytes, LE).fma(p, a2);
                a3 = FloatVector.fromMemorySegment(F, arena, o + 3 * vecBytes, LE).fma(p, a3);
            }
        }
        a0.mul(inv).intoArray(out, outOff);
        a1.mul(inv).intoArray(out, outOff + lanes);
        a2.mul(inv).intoArray(out, outOff + 2 * lanes);
        a3.mul(inv).intoArray(out, outOff + 3 * lanes);
    }

    // ---- query-blocked prefill attention -------------------------------------------------------------------------

    /**
     * Query rows per block: two vectors' worth (32 with AVX-512, 16 with AVX2). A row is one (token, query head)
     * pair; the lanes of a vector are rows, so scores, the running max and the running sum of a block are plain
     * vectors and the online softmax needs no horizontal reductions.
     */
    public static final int BLOCK_ROWS = 2 * F.length();
    /** Keys per tile: the tile's K and V (64 x head_dim floats each) and its scores stay in L1/L2. */
    private static final int KEY_TILE = 64;

    private static final ThreadLocal<BlockScratch> BLOCK_SCRATCH = ThreadLocal.withInitial(BlockScratch::new);

    /** Per-thread buffers of {@link #attendBlock}, grown on demand. */
    private static final class BlockScratch {
        /** (head_dim, BLOCK_ROWS): the block's queries, transposed and pre-scaled. */
        float[] qt = new float[0];
        /** (head_dim, BLOCK_ROWS): unnormalised output accumulator, transposed. */
        float[] ot = new float[0];
        /** (KEY_TILE, BLOCK_ROWS): scores, then probabilities, of the current tile. */
        final float[] sp = new float[KEY_TILE * BLOCK_ROWS];
        /** (KEY_TILE, head_dim): heap copies of the current tile's keys and values. */
        float[] kb = new float[0];
        float[] vb = new float[0];
        final float[] pos = new float[BLOCK_ROWS];
        final float[] inv = new float[BLOCK_ROWS];

        void ensure(int hd) {
            if (qt.length < hd * BLOCK_ROWS) {
                qt = new float[hd * BLOCK_ROWS];
                ot = new float[hd * BLOCK_ROWS];
                kb = new float[KEY_TILE * hd];
                vb = new float[KEY_TILE * hd];
            }
        }
    }

    /**
     * Causal attention of a block of query rows of one sequence run against kv head {@code kvHead}, flash-attention
     * style: every row of the block shares each load of K and V, and a running max and sum per row replace the
     * separate max, exp and normalise passes over a whole score row.
     *
     * <p>The run is {@code tokens} consecutive tokens at positions {@code firstPos, firstPos + 1, ...}, all already
     * stored in the cache; its rows are numbered {@code r = i * group + g} for token {@code i} and query head
     * {@code kvHead * group + g} (the GQA group of the kv head), so one block mixes tokens and heads. This call
     * handles rows {@code [rowFrom, rowTo)}, at most {@link #BLOCK_ROWS} of them; row {@code r} attends to positions
     * {@code 0 .. firstPos + r / group}.
     *
     * <pre>
     *   q, out: (tokens, n_heads * head_dim) row-major from qOff, row stride qStride; head h at h * head_dim
     *   per key tile (<= 64 positions, inside one cache block):
     *     S = Q K^T * scale      (rows, keys)   lanes = rows, one vector pair per key; causal mask by position
     *     m' = max(m, max_k S) ; O *= exp(m - m') ; l = l exp(m - m') + sum_k exp(S - m')
     *     O += exp(S - m') V     (head_dim, rows)
     *   out = O / l
     * </pre>
     *
     * <p>Writes only the block's rows of {@code out}, so blocks can run in parallel.
     */
    public static void attendBlock(KvCache cache, int layer, int kvHead, int group, int[] blockTable, int firstPos,
                                   int rowFrom, int rowTo, float[] q, int qOff, int qStride, float scale,
                                   float[] out) {
        final int n = rowTo - rowFrom;
        final int rr = BLOCK_ROWS;
        if (n <= 0 || n > rr) {
            throw new IllegalArgumentException("rows: " + n + " (expected: 1.." + rr + ")");
        }
        final KvLayout l = cache.layout();
        final int bs = l.blockSize();
        final int hd = l.headDim();
        final long ts = l.tokenStride();
        final long kInBlock = l.offsetInBlock(layer, 0, kvHead, 0);
        final long vInBlock = l.offsetInBlock(layer, 1, kvHead, 0);
        final MemorySegment arena = cache.arena();
        final int lanes = F.length();

        BlockScratch s = BLOCK_SCRATCH.get();
        s.ensure(hd);
        final float[] qt = s.qt;
        final float[] ot = s.ot;
        final float[] sp = s.sp;
        final float[] kb = s.kb;
        final float[] vb = s.vb;
        final float[] pos = s.pos;

        // Padding lanes repeat the last row: finite, never written out.
        for (int k = 0; k < rr; k++) {
            int r = rowFrom + Math.min(k, n - 1);
            int i = r / group;
            pos[k] = firstPos + i;
            int src = qOff + i * qStride + (kvHead * group + r % group) * hd;
            for (int d = 0; d < hd; d++) {
                qt[d * rr + k] = q[src + d] * scale;
            }
        }
        java.util.Arrays.fill(ot, 0, hd * rr, 0f);
        final int minPos = firstPos + rowFrom / group;
        final int maxPos = firstPos + (rowTo - 1) / group;
        final FloatVector negInf = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        final FloatVector pos0 = FloatVector.fromArray(F, pos, 0);
        final FloatVector pos1 = FloatVector.fromArray(F, pos, lanes);
        FloatVector m0 = negInf;
        FloatVector l0 = FloatVector.zero(F);
        FloatVector m1 = negInf;
        FloatVector l1 = FloatVector.zero(F);

        for (int t0 = 0; t0 <= maxPos; ) {
            int blk = t0 / bs;
            int t1 = Math.min(Math.min(t0 + KEY_TILE, (blk + 1) * bs), maxPos + 1);
            int nk = t1 - t0;
            long slot = (long) (t0 - blk * bs) * ts;
            long blockBase = cache.blockOffset(blockTable[blk]);
            MemorySegment.copy(arena, ValueLayout.JAVA_FLOAT_UNALIGNED, blockBase + kInBlock + slot, kb, 0, nk * hd);
            MemorySegment.copy(arena, ValueLayout.JAVA_FLOAT_UNALIGNED, blockBase + vInBlock + slot, vb, 0, nk * hd);
            boolean masked = t1 - 1 > minPos;
            // S = Q K^T, eight keys at a time: per dimension, two row vectors of Q times eight broadcast key
            // elements into 16 accumulators (measured against 2x4, 4x2 and 4x4 rows x keys: 2x8 was the fastest or
            // within 5% at every length, 70-85 GFLOP/s on one core, and no slower than 2x4 with AVX2's 16 registers).
            FloatVector x0 = negInf;
            FloatVector x1 = negInf;
            int j = 0;
            for (; j + 8 <= nk; j += 8) {
                FloatVector a00 = FloatVector.zero(F);
                FloatVector a01 = FloatVector.zero(F);
                FloatVector a02 = FloatVector.zero(F);
                FloatVector a03 = FloatVector.zero(F);
                FloatVector a04 = FloatVector.zero(F);
                FloatVector a05 = FloatVector.zero(F);
                FloatVector a06 = FloatVector.zero(F);
                FloatVector a07 = FloatVector.zero(F);
                FloatVector a10 = FloatVector.zero(F);
                FloatVector a11 = FloatVector.zero(F);
                FloatVector a12 = FloatVector.zero(F);
                FloatVector a13 = FloatVector.zero(F);
                FloatVector a14 = FloatVector.zero(F);
                FloatVector a15 = FloatVector.zero(F);
                FloatVector a16 = FloatVector.zero(F);
                FloatVector a17 = FloatVector.zero(F);
                int k0 = j * hd;
                for (int d = 0; d < hd; d++) {
                    int qo = d * rr;
                    FloatVector q0 = FloatVector.fromArray(F, qt, qo);
                    FloatVector q1 = FloatVector.fromArray(F, qt, qo + lanes);
                    FloatVector w0 = FloatVector.broadcast(F, kb[k0 + d]);
                    a00 = q0.fma(w0, a00);
                    a10 = q1.fma(w0, a10);
                    FloatVector w1 = FloatVector.broadcast(F, kb[k0 + hd + d]);
                    a01 = q0.fma(w1, a01);
                    a11 = q1.fma(w1, a11);
                    FloatVector w2 = FloatVector.broadcast(F, kb[k0 + 2 * hd + d]);
                    a02 = q0.fma(w2, a02);
                    a12 = q1.fma(w2, a12);
                    FloatVector w3 = FloatVector.broadcast(F, kb[k0 + 3 * hd + d]);
                    a03 = q0.fma(w3, a03);
                    a13 = q1.fma(w3, a13);
                    FloatVector w4 = FloatVector.broadcast(F, kb[k0 + 4 * hd + d]);
                    a04 = q0.fma(w4, a04);
                    a14 = q1.fma(w4, a14);
                    FloatVector w5 = FloatVector.broadcast(F, kb[k0 + 5 * hd + d]);
                    a05 = q0.fma(w5, a05);
                    a15 = q1.fma(w5, a15);
                    FloatVector w6 = FloatVector.broadcast(F, kb[k0 + 6 * hd + d]);
                    a06 = q0.fma(w6, a06);
                    a16 = q1.fma(w6, a16);
                    FloatVector w7 = FloatVector.broadcast(F, kb[k0 + 7 * hd + d]);
                    a07 = q0.fma(w7, a07);
                    a17 = q1.fma(w7, a17);
                }
                if (masked) {
                    float key = t0 + j;
                    a00 = a00.blend(negInf, pos0.compare(VectorOperators.LT, key));
                    a10 = a10.blend(negInf, pos1.compare(VectorOperators.LT, key));
                    a01 = a01.blend(negInf, pos0.compare(VectorOperators.LT, key + 1));
                    a11 = a11.blend(negInf, pos1.compare(VectorOperators.LT, key + 1));
                    a02 = a02.blend(negInf, pos0.compare(VectorOperators.LT, key + 2));
                    a12 = a12.blend(negInf, pos1.compare(VectorOperators.LT, key + 2));
                    a03 = a03.blend(negInf, pos0.compare(VectorOperators.LT, key + 3));
                    a13 = a13.blend(negInf, pos1.compare(VectorOperators.LT, key + 3));
                    a04 = a04.blend(negInf, pos0.compare(VectorOperators.LT, key + 4));
                    a14 = a14.blend(negInf, pos1.compare(VectorOperators.LT, key + 4));
                    a05 = a05.blend(negInf, pos0.compare(VectorOperators.LT, key + 5));
                    a15 = a15.blend(negInf, pos1.compare(VectorOperators.LT, key + 5));
                    a06 = a06.blend(negInf, pos0.compare(VectorOperators.LT, key + 6));
                    a16 = a16.blend(negInf, pos1.compare(VectorOperators.LT, key + 6));
                    a07 = a07.blend(negInf, pos0.compare(VectorOperators.LT, key + 7));
                    a17 = a17.blend(negInf, pos1.compare(VectorOperators.LT, key + 7));
                }
                int so = j * rr;
                a00.intoArray(sp, so);
                a10.intoArray(sp, so + lanes);
                a01.intoArray(sp, so + rr);
                a11.intoArray(sp, so + rr + lanes);
                a02.intoArray(sp, so + 2 * rr);
                a12.intoArray(sp, so + 2 * rr + lanes);
                a03.intoArray(sp, so + 3 * rr);
                a13.intoArray(sp, so + 3 * rr + lanes);
                a04.intoArray(sp, so + 4 * rr);
                a14.intoArray(sp, so + 4 * rr + lanes);
                a05.intoArray(sp, so + 5 * rr);
                a15.intoArray(sp, so + 5 * rr + lanes);
                a06.intoArray(sp, so + 6 * rr);
                a16.intoArray(sp, so + 6 * rr + lanes);
                a07.intoArray(sp, so + 7 * rr);
                a17.intoArray(sp, so + 7 * rr + lanes);
                x0 = x0.max(a00.max(a01).max(a02).max(a03).max(a04).max(a05).max(a06).max(a07));
                x1 = x1.max(a10.max(a11).max(a12).max(a13).max(a14).max(a15).max(a16).max(a17));
            }
            for (; j < nk; j++) {
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = FloatVector.zero(F);
                int k0 = j * hd;
                for (int d = 0; d < hd; d++) {
                    FloatVector w0 = FloatVector.broadcast(F, kb[k0 + d]);
                    a0 = FloatVector.fromArray(F, qt, d * rr).fma(w0, a0);
                    a1 = FloatVector.fromArray(F, qt, d * rr + lanes).fma(w0, a1);
                }
                if (masked) {
                    float key = t0 + j;
                    a0 = a0.blend(negInf, pos0.compare(VectorOperators.LT, key));
                    a1 = a1.blend(negInf, pos1.compare(VectorOperators.LT, key));
                }
                a0.intoArray(sp, j * rr);
                x0 = x0.max(a0);
                a1.intoArray(sp, j * rr + lanes);
                x1 = x1.max(a1);
            }

            // Online softmax: rescale what was accumulated under the old max. Tile 0 holds position 0, which every
            // row sees, so the max is finite from then on, and exp(-inf - m) = 0 for masked keys.
            FloatVector n0 = m0.max(x0);
            FloatVector n1 = m1.max(x1);
            if (!n0.compare(VectorOperators.EQ, m0).allTrue() || !n1.compare(VectorOperators.EQ, m1).allTrue()) {
                FloatVector c0 = m0.sub(n0).lanewise(VectorOperators.EXP);
                l0 = l0.mul(c0);
                FloatVector c1 = m1.sub(n1).lanewise(VectorOperators.EXP);
                l1 = l1.mul(c1);
                if (t0 > 0) {
                    for (int d = 0; d < hd; d++) {
                        int o = d * rr;
                        FloatVector.fromArray(F, ot, o).mul(c0).intoArray(ot, o);
                        FloatVector.fromArray(F, ot, o + lanes).mul(c1).intoArray(ot, o + lanes);
                    }
                }
                m0 = n0;
                m1 = n1;
            }
            for (j = 0; j < nk; j++) {
                int so = j * rr;
                FloatVector p0 = FloatVector.fromArray(F, sp, so).sub(m0).lanewise(VectorOperators.EXP);
                p0.intoArray(sp, so);
                l0 = l0.add(p0);
                FloatVector p1 = FloatVector.fromArray(F, sp, so + lanes).sub(m1).lanewise(VectorOperators.EXP);
                p1.intoArray(sp, so + lanes);
                l1 = l1.add(p1);
            }

            // O += P V, eight keys per pass over O (head_dim x two vectors, in L1).
            j = 0;
            for (; j + 8 <= nk; j += 8) {
                int so = j * rr;
                FloatVector p00 = FloatVector.fromArray(F, sp, so);
                FloatVector p01 = FloatVector.fromArray(F, sp, so + lanes);
                FloatVector p10 = FloatVector.fromArray(F, sp, so + rr);
                FloatVector p11 = FloatVector.fromArray(F, sp, so + rr + lanes);
                FloatVector p20 = FloatVector.fromArray(F, sp, so + 2 * rr);
                FloatVector p21 = FloatVector.fromArray(F, sp, so + 2 * rr + lanes);
                FloatVector p30 = FloatVector.fromArray(F, sp, so + 3 * rr);
                FloatVector p31 = FloatVector.fromArray(F, sp, so + 3 * rr + lanes);
                FloatVector p40 = FloatVector.fromArray(F, sp, so + 4 * rr);
                FloatVector p41 = FloatVector.fromArray(F, sp, so + 4 * rr + lanes);
                FloatVector p50 = FloatVector.fromArray(F, sp, so + 5 * rr);
                FloatVector p51 = FloatVector.fromArray(F, sp, so + 5 * rr + lanes);
                FloatVector p60 = FloatVector.fromArray(F, sp, so + 6 * rr);
                FloatVector p61 = FloatVector.fromArray(F, sp, so + 6 * rr + lanes);
                FloatVector p70 = FloatVector.fromArray(F, sp, so + 7 * rr);
                FloatVector p71 = FloatVector.fromArray(F, sp, so + 7 * rr + lanes);
                int v0 = j * hd;
                for (int d = 0; d < hd; d++) {
                    int o = d * rr;
                    FloatVector o0 = FloatVector.fromArray(F, ot, o);
                    FloatVector o1 = FloatVector.fromArray(F, ot, o + lanes);
                    FloatVector w0 = FloatVector.broadcast(F, vb[v0 + d]);
                    o0 = p00.fma(w0, o0);
                    o1 = p01.fma(w0, o1);
                    FloatVector w1 = FloatVector.broadcast(F, vb[v0 + hd + d]);
                    o0 = p10.fma(w1, o0);
                    o1 = p11.fma(w1, o1);
                    FloatVector w2 = FloatVector.broadcast(F, vb[v0 + 2 * hd + d]);
                    o0 = p20.fma(w2, o0);
                    o1 = p21.fma(w2, o1);
                    FloatVector w3 = FloatVector.broadcast(F, vb[v0 + 3 * hd + d]);
                    o0 = p30.fma(w3, o0);
                    o1 = p31.fma(w3, o1);
                    FloatVector w4 = FloatVector.broadcast(F, vb[v0 + 4 * hd + d]);
                    o0 = p40.fma(w4, o0);
                    o1 = p41.fma(w4, o1);
                    FloatVector w5 = FloatVector.broadcast(F, vb[v0 + 5 * hd + d]);
                    o0 = p50.fma(w5, o0);
                    o1 = p51.fma(w5, o1);
                    FloatVector w6 = FloatVector.broadcast(F, vb[v0 + 6 * hd + d]);
                    o0 = p60.fma(w6, o0);
                    o1 = p61.fma(w6, o1);
                    FloatVector w7 = FloatVector.broadcast(F, vb[v0 + 7 * hd + d]);
                    o0 = p70.fma(w7, o0);
                    o1 = p71.fma(w7, o1);
                    o0.intoArray(ot, o);
                    o1.intoArray(ot, o + lanes);
                }
            }
            for (; j < nk; j++) {
                int so = j * rr;
                FloatVector p00 = FloatVector.fromArray(F, sp, so);
                FloatVector p01 = FloatVector.fromArray(F, sp, so + lanes);
                int v0 = j * hd;
                for (int d = 0; d < hd; d++) {
                    int o = d * rr;
                    FloatVector w0 = FloatVector.broadcast(F, vb[v0 + d]);
                    p00.fma(w0, FloatVector.fromArray(F, ot, o)).intoArray(ot, o);
                    p01.fma(w0, FloatVector.fromArray(F, ot, o + lanes)).intoArray(ot, o + lanes);
                }
            }
            t0 = t1;
        }

        float[] inv = s.inv;
        FloatVector.broadcast(F, 1f).div(l0).intoArray(inv, 0 * lanes);
        FloatVector.broadcast(F, 1f).div(l1).intoArray(inv, 1 * lanes);
        for (int k = 0; k < n; k++) {
            int r = rowFrom + k;
            int dst = qOff + (r / group) * qStride + (kvHead * group + r % group) * hd;
            float f = inv[k];
            for (int d = 0; d < hd; d++) {
                out[dst + d] = ot[d * rr + k] * f;
            }
        }
    }
}
