package io.tandem.engine.model;

import io.tandem.engine.kernels.WeightMatrix;
import java.util.List;

/**
 * All weights of a model: immutable, so that a weight update can build a new instance beside the old one and
 * swap it in between two engine steps.
 *
 * @param tokenEmbedding    [vocab, dim]
 * @param outputNorm        [dim]
 * @param output            [vocab, dim]; the same object as tokenEmbedding when the model ties them
 * @param ropeFreqFactors   Llama 3.1's per-frequency divisors ({@code rope_freqs.weight}, [ropeDim / 2]), or null
 */
public record ModelWeights(
        WeightMatrix tokenEmbedding,
        List<LayerWeights> layers,
        float[] outputNorm,
        WeightMatrix output,
        float[] ropeFreqFactors) {

    public ModelWeights {
        layers = List.copyOf(layers);
    }

    /** Bytes of the matrices that one decode step reads: every layer plus the output projection. */
    public long matrixBytesPerStep() {
        long total = output.data().byteSize();
        for (LayerWeights l : layers) {
            total += l.wq().data().byteSize() + l.wk().data().byteSize() + l.wv().data().byteSize() + l.wo().data().byteSize()
                    + l.wGate().data().byteSize() + l.wUp().data().byteSize() + l.wDown().data().byteSize();
        }
        return total;
    }

    /** Parameters in the matrices and the embedding (counted once when tied). */
    public long parameterCount() {
        long total = tokenEmbedding.rows() * (long) tokenEmbedding.cols();
        if (output != tokenEmbedding) {
            total += output.rows() * (long) output.cols();
        }
        for (LayerWeights l : layers) {
            for (WeightMatrix m : List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown())) {
                total += m.rows() * (long) m.cols();
            }
            total += l.attnNorm().length + l.ffnNorm().length;
        }
        return total + outputNorm.length;
    }
}
