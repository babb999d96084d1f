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
 * Causal self-attention of one query head over a sequence whose keys and values live in paged KV-cache blocks.
 *
 * <p>Position {@code j} of a sequence sits in block {@code blockTable[j / blockSize]} at slot
 * {@code j % blockSize}; within a block the keys of one (layer, kv head) are {@code blockSize * headDim}
 * contiguous floats, so each block's run of keys streams with vector loads.
 *
 * <p>Stateless apart from the caller's scratch; safe to call from many threads at once on different outputs.
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

    /** scores[j] = exp(scores[j] - max) for j < len; returns their sum. */
    private static float expInPlace(float[] scores, int len, float max) {
        float sum = 0f;
        for (int j = 0; j < len; j++) {
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
}
