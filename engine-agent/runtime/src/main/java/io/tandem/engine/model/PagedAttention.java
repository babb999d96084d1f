package io.tandem.engine.model;

import io.tandem.engine.kernels.VectorOps;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Causal self-attention of one query head over a sequence whose keys and values live in paged KV-cache blocks.
 *
 * <p>Position {@code j} of a sequence sits in block {@code blockTable[j / blockSize]} at slot
 * {@code j % blockSize}; within a block the keys of one (layer, kv head) are {@code blockSize * headDim}
 * contiguous floats, so each block's run of keys streams with vector loads.
 *
 * <p>Stateless apart from the caller's scratch; safe to call from many threads at once on different outputs.
 */
public final class PagedAttention {
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
        float sum = 0f;
        for (int j = 0; j < len; j++) {
            float e = (float) Math.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        java.util.Arrays.fill(out, outOff, outOff + hd, 0f);
        for (int start = 0; start < len; start += bs) {
            long vBase = cache.blockOffset(blockTable[start / bs]) + vInBlock;
            int end = Math.min(len, start + bs);
            for (int j = start; j < end; j++) {
                VectorOps.axpy(scores[j] * inv, arena, vBase + (j - start) * tokenStride, out, outOff, hd);
            }
        }
    }
}
