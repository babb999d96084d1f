package io.tandem.engine.model;

import io.tandem.engine.kernels.WeightMatrix;

/**
 * One transformer block's weights. Matrices stay in the file's type and memory (mapped, never copied to the
 * heap); the small vectors (norms, biases) are F32 arrays. Shapes as {@code [rows, cols]}:
 * wq [qDim, dim], wk/wv [kvDim, dim], wo [dim, qDim], gate/up [ffnDim, dim], down [dim, ffnDim].
 *
 * @param bq bias of Q (Qwen2), or null; likewise bk, bv
 * @param qNorm per-head RMSNorm weight over headDim applied to Q (Qwen3), or null; likewise kNorm
 */
public record LayerWeights(
        float[] attnNorm,
        WeightMatrix wq,
        WeightMatrix wk,
        WeightMatrix wv,
        WeightMatrix wo,
        float[] bq,
        float[] bk,
        float[] bv,
        float[] qNorm,
        float[] kNorm,
        float[] ffnNorm,
        WeightMatrix wGate,
        WeightMatrix wUp,
        WeightMatrix wDown) {
}
