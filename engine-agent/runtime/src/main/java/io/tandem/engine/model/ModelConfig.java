package io.tandem.engine.model;

/**
 * Hyper-parameters of a Llama-family model, read from GGUF metadata ({@code <arch>.embedding_length} etc.).
 *
 * @param dim            model width (embedding length)
 * @param nLayers        transformer blocks
 * @param nHeads         query heads
 * @param nKvHeads       key/value heads (GQA: nHeads is a multiple of it)
 * @param headDim        per-head width; dim / nHeads unless the file says otherwise (Qwen3)
 * @param ffnDim         SwiGLU hidden width
 * @param vocabSize      rows of the embedding table
 * @param contextLength  the longest sequence the model was trained for
 * @param rmsEps         RMSNorm epsilon
 * @param ropeTheta      RoPE frequency base
 * @param ropeDim        dimensions of each head that RoPE rotates (usually headDim)
 * @param ropeScale      linear RoPE position scale (1 = none): positions are divided by it
 * @param tiedEmbeddings whether the output projection reuses the token embedding table
 */
public record ModelConfig(
        Architecture architecture,
        int dim,
        int nLayers,
        int nHeads,
        int nKvHeads,
        int headDim,
        int ffnDim,
        int vocabSize,
        int contextLength,
        float rmsEps,
        float ropeTheta,
        int ropeDim,
        float ropeScale,
        boolean tiedEmbeddings) {

    public ModelConfig {
        if (nHeads <= 0 || nKvHeads <= 0 || nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("head_count " + nHeads + ", head_count_kv " + nKvHeads
                    + " (expected: head_count a positive multiple of head_count_kv)");
        }
        if (ropeDim <= 0 || ropeDim > headDim || ropeDim % 2 != 0) {
            throw new IllegalArgumentException("rope dimension: " + ropeDim + " (expected: even, 0 < d <= " + headDim + ")");
        }
    }

    /** Query heads that share one KV head. */
    public int groupSize() {
        return nHeads / nKvHeads;
    }

    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }
}
