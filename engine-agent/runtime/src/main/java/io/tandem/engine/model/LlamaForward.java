package io.tandem.engine.model;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.VectorOps;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.tensor.Quants;

/**
 * The Llama-family forward pass over a {@link ForwardBatch} of tokens from many sequences at once.
 *
 * <p>Every token of the batch goes through each matrix together, so a decode step of 32 sequences reads the
 * weights once, and a 512-token prefill chunk is a GEMM, not 512 matrix-vector products. Attention runs over each
 * token's sequence in the paged cache, in query blocks for prefill chunks and per (token, head) for decode tokens
 * (see {@link #attention}); tokens of one chunk are stored before attention runs, so a token sees every earlier
 * position of its sequence, including those of its own chunk (causal).
 *
 * <pre>
 *   x = embed(tokens)                                          (T, dim)
 *   for each layer:
 *     h = rmsnorm(x) ; q,k,v = h Wq, h Wk, h Wv (+bias)        (T, qDim), (T, kvDim), (T, kvDim)
 *     [qwen3] q,k = rmsnorm per head ; rope(q, k, positions) ; cache[pos] = k, v
 *     x += attention(q, cache) Wo
 *     h = rmsnorm(x) ; x += (silu(h Wgate) * h Wup) Wdown
 *   logits = rmsnorm(x[wanted]) Wout                           (L, vocab)
 * </pre>
 *
 * <p>Holds scratch sized for the largest batch; one instance per engine, used by the engine loop only
 * (not thread-safe). The weights may be swapped between calls.
 */
public final class LlamaForward {
    /**
     * (token, head) rows a run needs before it is attended in query blocks rather than per row: one vector of lanes,
     * below which a block would be mostly padding. {@code -Dtandem.attention.blockedMinRows} overrides it for
     * experiments (a huge value turns the blocked path off).
     */
    private static final int BLOCKED_MIN_ROWS =
            Integer.getInteger("tandem.attention.blockedMinRows", PagedAttention.BLOCK_ROWS / 2);
    private final ModelConfig c;
    private final ComputePool pool;
    private final int maxTokens;
    private final int maxLogits;
    private final float attnScale;
    /** [ropeDim / 2] inverse frequencies, with Llama 3.1 factors and linear scaling folded in. */
    private float[] invFreq;

    // Activations, row-major (T, width).
    private final float[] x;
    private final float[] xb;
    private final float[] q;
    private final float[] k;
    private final float[] v;
    private final float[] att;
    private final float[] hb;
    private final float[] hb2;
    private final float[] xOut;
    private final float[] rope;
    private final float[] logits;
    private final float[][] qkv;
    private final float[][] gateUp;
    private final ThreadLocal<float[]> scores;

    public LlamaForward(ModelConfig c, ComputePool pool, int maxTokens, int maxLogits) {
        this.c = c;
        this.pool = pool;
        this.maxTokens = maxTokens;
        this.maxLogits = maxLogits;
        this.attnScale = (float) (1.0 / Math.sqrt(c.headDim()));
        this.x = new float[maxTokens * c.dim()];
        this.xb = new float[maxTokens * c.dim()];
        this.q = new float[maxTokens * c.qDim()];
        this.k = new float[maxTokens * c.kvDim()];
        this.v = new float[maxTokens * c.kvDim()];
        this.att = new float[maxTokens * c.qDim()];
        this.hb = new float[maxTokens * c.ffnDim()];
        this.hb2 = new float[maxTokens * c.ffnDim()];
        this.xOut = new float[Math.max(maxTokens, maxLogits) * c.dim()];
        this.rope = new float[maxTokens * c.ropeDim()];
        this.logits = new float[maxLogits * c.vocabSize()];
        this.qkv = new float[][] {q, k, v};
        this.gateUp = new float[][] {hb, hb2};
        int ctx = c.contextLength();
        this.scores = ThreadLocal.withInitial(() -> new float[Math.max(ctx, 1024)]);
    }

    public ModelConfig config() {
        return c;
    }

    private float[] invFreq(ModelWeights w) {
        float[] f = invFreq;
        if (f == null) {
            int half = c.ropeDim() / 2;
            f = new float[half];
            for (int i = 0; i < half; i++) {
                double freq = Math.pow(c.ropeTheta(), -2.0 * i / c.ropeDim());
                if (w.ropeFreqFactors() != null) {
                    freq /= w.ropeFreqFactors()[i];
                }
                f[i] = (float) (freq / c.ropeScale());
            }
            invFreq = f;
        }
        return f;
    }

    /**
     * Runs the batch and returns the logits, {@code (numLogits, vocab)} row-major in an array reused by the next
     * call.
     */
    public float[] forward(ModelWeights w, KvCache cache, ForwardBatch b) {
        final int n = b.numTokens;
        if (n == 0) {
            return logits;
        }
        if (n > maxTokens || b.numLogits > maxLogits) {
            throw new IllegalArgumentException("batch of " + n + " tokens / " + b.numLogits
                    + " logits exceeds " + maxTokens + " / " + maxLogits);
        }
        final int dim = c.dim();
        final int hd = c.headDim();
        final int qDim = c.qDim();
        final int kvDim = c.kvDim();
        final int ffn = c.ffnDim();

        WeightMatrix embd = w.tokenEmbedding();
        long rowBytes = embd.type().byteSize(dim);
        for (int t = 0; t < n; t++) {
            Quants.dequantizeRow(embd.type(), embd.data(), b.tokens[t] * rowBytes, x, t * dim, dim);
        }
        ropeTables(w, b);

        for (int l = 0; l < c.nLayers(); l++) {
            LayerWeights lw = w.layers().get(l);
            final int layer = l;
            forTokens(n, t -> VectorOps.rmsnorm(xb, t * dim, x, t * dim, lw.attnNorm(), dim, c.rmsEps()));
            Matmul.matmulMany(pool, new WeightMatrix[] {lw.wq(), lw.wk(), lw.wv()}, xb, n, qkv);

            forTokens(n, t -> {
                if (lw.bq() != null) {
                    VectorOps.add(q, t * qDim, lw.bq(), 0, qDim);
                    VectorOps.add(k, t * kvDim, lw.bk(), 0, kvDim);
                    VectorOps.add(v, t * kvDim, lw.bv(), 0, kvDim);
                }
                if (lw.qNorm() != null) {
                    for (int h = 0; h < c.nHeads(); h++) {
                        int o = t * qDim + h * hd;
                        VectorOps.rmsnorm(q, o, q, o, lw.qNorm(), hd, c.rmsEps());
                    }
                    for (int h = 0; h < c.nKvHeads(); h++) {
                        int o = t * kvDim + h * hd;
                        VectorOps.rmsnorm(k, o, k, o, lw.kNorm(), hd, c.rmsEps());
                    }
                }
                applyRope(q, t * qDim, c.nHeads(), t);
                applyRope(k, t * kvDim, c.nKvHeads(), t);
                PagedAttention.store(cache, layer, b.blockTables[b.seqOf[t]], b.positions[t], k, t * kvDim, v, t * kvDim);
            });

            attention(cache, layer, b, n);

            Matmul.matmul(pool, lw.wo(), att, n, xOut);
            forTokens(n, t -> {
                VectorOps.add(x, t * dim, xOut, t * dim, dim);
                VectorOps.rmsnorm(xb, t * dim, x, t * dim, lw.ffnNorm(), dim, c.rmsEps());
            });
            Matmul.matmulMany(pool, new WeightMatrix[] {lw.wGate(), lw.wUp()}, xb, n, gateUp);
            forTokens(n, t -> VectorOps.siluMul(hb, hb2, t * ffn, ffn));
            Matmul.matmul(pool, lw.wDown(), hb, n, xOut);
            forTokens(n, t -> VectorOps.add(x, t * dim, xOut, t * dim, dim));
        }

        int nl = b.numLogits;
        for (int i = 0; i < nl; i++) {
            int t = b.logitTokens[i];
            VectorOps.rmsnorm(xb, i * dim, x, t * dim, w.outputNorm(), dim, c.rmsEps());
        }
        if (nl > 0) {
            Matmul.matmul(pool, w.output(), xb, nl, logits);
        }
        return logits;
    }

    /**
     * att = causal attention of every token's query heads over its sequence in the cache, in one parallel loop.
     *
     * <p>A sequence's tokens of this step are consecutive in the batch at consecutive positions (a run). A run with
     * enough (token, head) rows for a full query block (a prefill chunk) goes through
     * {@link PagedAttention#attendBlock}: tasks are (kv head, block of {@link PagedAttention#BLOCK_ROWS} rows), so a
     * key and value load serves every query head of the GQA group and every token of the block. Shorter runs (decode
     * tokens) take one task per (token, head) with {@link PagedAttention#attend}, which loses no lanes to padding.
     * Blocks are listed last-first: the late ones see the most keys, and handing them out first balances the threads.
     */
    private void attention(KvCache cache, int layer, ForwardBatch b, int n) {
        final int nHeads = c.nHeads();
        final int nKv = c.nKvHeads();
        final int group = c.groupSize();
        final int hd = c.headDim();
        final int qDim = c.qDim();
        final int br = PagedAttention.BLOCK_ROWS;
        int tasks = 0;
        for (int t = 0; t < n; ) {
            int e = runEnd(b, t, n);
            int rows = (e - t) * group;
            tasks += rows >= BLOCKED_MIN_ROWS ? nKv * ((rows + br - 1) / br) : (e - t) * nHeads;
            t = e;
        }
        // Task i: first token of its run, run length, row block (-1 for a per-(token, head) task), kv head (or head).
        final int[] runStart = new int[tasks];
        final int[] runLen = new int[tasks];
        final int[] blockOf = new int[tasks];
        final int[] headOf = new int[tasks];
        int i = 0;
        for (int t = 0; t < n; ) {
            int e = runEnd(b, t, n);
            int len = e - t;
            int rows = len * group;
            if (rows >= BLOCKED_MIN_ROWS) {
                for (int blk = (rows + br - 1) / br - 1; blk >= 0; blk--) {
                    for (int kh = 0; kh < nKv; kh++) {
                        runStart[i] = t;
                        runLen[i] = len;
                        blockOf[i] = blk;
                        headOf[i] = kh;
                        i++;
                    }
                }
            } else {
                for (int tt = t; tt < e; tt++) {
                    for (int h = 0; h < nHeads; h++) {
                        runStart[i] = tt;
                        runLen[i] = 1;
                        blockOf[i] = -1;
                        headOf[i] = h;
                        i++;
                    }
                }
            }
            t = e;
        }
        pool.parallelFor(tasks, task -> {
            int t = runStart[task];
            int[] table = b.blockTables[b.seqOf[t]];
            int blk = blockOf[task];
            if (blk >= 0) {
                int rows = runLen[task] * group;
                PagedAttention.attendBlock(cache, layer, headOf[task], group, table, b.positions[t], blk * br,
                        Math.min(rows, (blk + 1) * br), q, t * qDim, qDim, attnScale, att);
                return;
            }
            int h = headOf[task];
            float[] sc = scores.get();
            int len = b.positions[t] + 1;
            if (sc.length < len) {
                sc = new float[Math.max(len, sc.length * 2)];
                scores.set(sc);
            }
            PagedAttention.attend(cache, layer, h / group, table, len, q, t * qDim + h * hd, attnScale, sc, att,
                    t * qDim + h * hd);
        });
    }

    /** End (exclusive) of the run starting at token t: same sequence, consecutive positions. */
    private static int runEnd(ForwardBatch b, int t, int n) {
        int e = t + 1;
        while (e < n && b.seqOf[e] == b.seqOf[t] && b.positions[e] == b.positions[e - 1] + 1) {
            e++;
        }
        return e;
    }

    private void forTokens(int n, java.util.function.IntConsumer body) {
        if (n == 1) {
            body.accept(0);
        } else {
            pool.parallelFor(n, body);
        }
    }

    /** rope[t] = (cos, sin) pairs of each frequency at token t's position. */
    private void ropeTables(ModelWeights w, ForwardBatch b) {
        float[] f = invFreq(w);
        int half = f.length;
        for (int t = 0; t < b.numTokens; t++) {
            int pos = b.positions[t];
            int o = t * half * 2;
            for (int i = 0; i < half; i++) {
                double a = pos * (double) f[i];
                rope[o + 2 * i] = (float) Math.cos(a);
                rope[o + 2 * i + 1] = (float) Math.sin(a);
            }
        }
    }

    private void applyRope(float[] vec, int off, int heads, int t) {
        int hd = c.headDim();
        int half = c.ropeDim() / 2;
        int ro = t * half * 2;
        boolean adjacent = c.architecture().ropeStyle() == Architecture.RopeStyle.ADJACENT_PAIRS;
        for (int h = 0; h < heads; h++) {
            int base = off + h * hd;
            for (int i = 0; i < half; i++) {
                float cos = rope[ro + 2 * i];
                float sin = rope[ro + 2 * i + 1];
                int i0 = adjacent ? base + 2 * i : base + i;
                int i1 = adjacent ? i0 + 1 : base + i + half;
                float a = vec[i0];
                float bb = vec[i1];
                vec[i0] = a * cos - bb * sin;
                vec[i1] = a * sin + bb * cos;
            }
        }
    }

    /** Invalidates cached derived state after weights are swapped. */
    public void weightsChanged() {
        invFreq = null;
    }
}
