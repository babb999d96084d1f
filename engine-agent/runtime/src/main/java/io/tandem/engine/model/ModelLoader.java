package io.tandem.engine.model;

import io.tandem.engine.errors.ModelLoadException;
import io.tandem.engine.gguf.GgufFile;
import io.tandem.engine.gguf.GgufMetadata;
import io.tandem.engine.gguf.GgufTensor;
import io.tandem.engine.kernels.HugePages;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.Quants;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Reads a model's configuration and weights out of an open GGUF file.
 *
 * <p>Matrices are wrapped in place (slices of the file mapping), and the projection matrices that decode streams
 * get the kernels' tiled copy where there is one ({@link WeightMatrix#withDecodeTiles()}: Q8_0); vectors are
 * converted to F32 arrays. Every
 * tensor's type and shape is checked against the configuration so that a wrong file fails here, naming the file
 * and the tensor, rather than producing garbage in the forward pass.
 */
public final class ModelLoader {
    private ModelLoader() {
    }

    /** Reads the hyper-parameters from {@code <arch>.*} keys. */
    public static ModelConfig config(GgufFile file) {
        GgufMetadata md = file.metadata();
        String archName = md.getString("general.architecture", null);
        Architecture arch = Architecture.fromGguf(archName);
        if (arch == null) {
            throw new ModelLoadException(file.path() + ": unsupported architecture '" + archName
                    + "' (supported: " + Architecture.supportedNames() + ")");
        }
        String p = arch.ggufName() + ".";
        try {
            int dim = requireInt(file, p + "embedding_length");
            int nLayers = requireInt(file, p + "block_count");
            int nHeads = requireInt(file, p + "attention.head_count");
            int nKvHeads = md.getInt(p + "attention.head_count_kv", nHeads);
            int headDim = md.getInt(p + "attention.key_length", dim / nHeads);
            int ffn = requireInt(file, p + "feed_forward_length");
            int ctx = md.getInt(p + "context_length", 2048);
            float eps = md.getFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f);
            float theta = md.getFloat(p + "rope.freq_base", 10000f);
            int ropeDim = md.getInt(p + "rope.dimension_count", headDim);
            float ropeScale = 1f;
            String scalingType = md.getString(p + "rope.scaling.type", "none");
            if (scalingType.equals("linear")) {
                ropeScale = md.getFloat(p + "rope.scaling.factor", 1f);
            } else if (!scalingType.equals("none")) {
                throw new ModelLoadException(file.path() + ": unsupported rope scaling type '" + scalingType
                        + "' (supported: none, linear, and Llama 3.1's rope_freqs tensor)");
            }
            GgufTensor embd = file.tensor("token_embd.weight");
            int vocab = Math.toIntExact(embd.rows());
            boolean tied = file.findTensor("output.weight").isEmpty();
            return new ModelConfig(arch, dim, nLayers, nHeads, nKvHeads, headDim, ffn, vocab, ctx, eps, theta,
                    ropeDim, ropeScale, tied);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file.path() + ": " + e.getMessage(), e);
        }
    }

    private static int requireInt(GgufFile file, String key) {
        if (!file.metadata().contains(key)) {
            throw new ModelLoadException(file.path() + ": missing metadata key '" + key + "'");
        }
        return file.metadata().getInt(key);
    }

    /**
     * Wraps the weights of {@code file}; {@code progress} hears the index of each loaded layer (0..nLayers-1).
     */
    public static ModelWeights weights(GgufFile file, ModelConfig c, IntConsumer progress) {
        // Tiled copies live exactly as long as the mapping: unmapping the file (a level-2 sleep) frees them too. They
        // share 32 MiB huge-page chunks rather than each taking whole 2 MiB pages.
        java.lang.foreign.Arena tiles = WeightMatrix.decodeTileArena(file.lifetime());
        WeightMatrix embd = matrix(file, "token_embd.weight", c.vocabSize(), c.dim());
        List<LayerWeights> layers = new ArrayList<>(c.nLayers());
        for (int i = 0; i < c.nLayers(); i++) {
            String b = "blk." + i + ".";
            boolean bias = c.architecture().qkvBias();
            boolean qkNorm = c.architecture().qkNorm();
            layers.add(new LayerWeights(
                    vector(file, b + "attn_norm.weight", c.dim()),
                    packed(matrix(file, b + "attn_q.weight", c.qDim(), c.dim()).withDecodeTiles(tiles)),
                    packed(matrix(file, b + "attn_k.weight", c.kvDim(), c.dim()).withDecodeTiles(tiles)),
                    packed(matrix(file, b + "attn_v.weight", c.kvDim(), c.dim()).withDecodeTiles(tiles)),
                    packed(matrix(file, b + "attn_output.weight", c.dim(), c.qDim()).withDecodeTiles(tiles)),
                    bias ? vector(file, b + "attn_q.bias", c.qDim()) : null,
                    bias ? vector(file, b + "attn_k.bias", c.kvDim()) : null,
                    bias ? vector(file, b + "attn_v.bias", c.kvDim()) : null,
                    qkNorm ? vector(file, b + "attn_q_norm.weight", c.headDim()) : null,
                    qkNorm ? vector(file, b + "attn_k_norm.weight", c.headDim()) : null,
                    vector(file, b + "ffn_norm.weight", c.dim()),
                    packed(matrix(file, b + "ffn_gate.weight", c.ffnDim(), c.dim()).withDecodeTiles(tiles)),
                    packed(matrix(file, b + "ffn_up.weight", c.ffnDim(), c.dim()).withDecodeTiles(tiles)),
                    packed(matrix(file, b + "ffn_down.weight", c.dim(), c.ffnDim()).withDecodeTiles(tiles))));
            progress.accept(i);
        }
        // Embedding lookups read rows of data(); only the output projection needs the decode kernel's tiles. A tied
        // output stays the very same object as the embedding (WeightSlots and WeightArenas test identity).
        if (c.tiedEmbeddings()) {
            embd = embd.withDecodeTiles(tiles);
        }
        WeightMatrix output = c.tiedEmbeddings() ? embd
                : packed(matrix(file, "output.weight", c.vocabSize(), c.dim()).withDecodeTiles(tiles));
        float[] ropeFreqs = file.findTensor("rope_freqs.weight").isPresent()
                ? vector(file, "rope_freqs.weight", c.ropeDim() / 2) : null;
        return new ModelWeights(embd, layers, vector(file, "output_norm.weight", c.dim()), output, ropeFreqs);
    }

    /**
     * {@code m}; if it was packed into tiles, its pages of the file mapping leave the resident set: every matmul path
     * reads the tiles then, so only a stray reader (a weight export, a test comparing layouts) maps them back in.
     * Embedding rows of a tied, packed output are still read from the mapping, a few pages at a time.
     */
    private static WeightMatrix packed(WeightMatrix m) {
        if (m.decodeTiles() != null) {
            HugePages.dropResidentFilePages(m.data());
        }
        return m;
    }

    static WeightMatrix matrix(GgufFile file, String name, int rows, int cols) {
        GgufTensor t = file.tensor(name);
        long[] expected = {cols, rows};
        if (!Arrays.equals(t.shape(), expected)) {
            throw new ModelLoadException(file.path() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + " (expected: " + Arrays.toString(expected) + ")");
        }
        return WeightMatrix.of(t.type(), rows, cols, t.data());
    }

    static float[] vector(GgufFile file, String name, int n) {
        GgufTensor t = file.tensor(name);
        if (t.elementCount() != n) {
            throw new ModelLoadException(file.path() + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + " (expected: " + n + " elements)");
        }
        float[] out = new float[n];
        if (t.type().isQuantized() && n % t.type().blockSize() != 0) {
            throw new ModelLoadException(file.path() + ": tensor '" + name + "' of " + n + " elements cannot be "
                    + t.type());
        }
        Quants.dequantizeRow(t.type(), t.data(), 0, out, 0, n);
        return out;
    }
}
