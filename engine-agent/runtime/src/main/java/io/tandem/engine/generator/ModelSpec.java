package io.tandem.engine.generator;

import io.tandem.engine.tensor.GgmlType;
import java.util.Locale;

/**
 * The shape of a generated Llama-architecture model.
 *
 * @param name       {@code general.name}
 * @param dim        model width
 * @param nLayers    blocks
 * @param nHeads     query heads
 * @param nKvHeads   key/value heads
 * @param ffnDim     SwiGLU hidden width
 * @param vocabSize  tokens (256 bytes, BPE merges, 5 special tokens)
 * @param context    context length
 * @param type       matrix type (F32 or any quantized type); norms stay F32
 * @param tied       whether the output projection reuses the embedding table
 * @param seed       seed of every weight (each tensor draws from its own stream derived from it and its name)
 */
public record ModelSpec(String name, int dim, int nLayers, int nHeads, int nKvHeads, int ffnDim, int vocabSize,
                        int context, GgmlType type, boolean tied, long seed) {

    public ModelSpec {
        if (dim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || ffnDim <= 0 || context <= 0) {
            throw new IllegalArgumentException("sizes must be > 0: dim " + dim + ", layers " + nLayers + ", heads "
                    + nHeads + ", kv heads " + nKvHeads + ", ffn " + ffnDim + ", context " + context);
        }
        if (dim % nHeads != 0 || nHeads % nKvHeads != 0 || (dim / nHeads) % 2 != 0) {
            throw new IllegalArgumentException("dim " + dim + ", heads " + nHeads + ", kv heads " + nKvHeads
                    + " (expected: dim divisible by heads into an even head size, heads divisible by kv heads)");
        }
        if (vocabSize < ByteLevelVocab.MIN_VOCAB) {
            throw new IllegalArgumentException("vocabSize: " + vocabSize + " (expected: >= " + ByteLevelVocab.MIN_VOCAB + ")");
        }
        int bs = type.blockSize();
        if (dim % bs != 0 || ffnDim % bs != 0) {
            throw new IllegalArgumentException("dim " + dim + " and ffn " + ffnDim + " must be multiples of " + bs
                    + " for " + type);
        }
    }

    /** A few million parameters: fast enough for every test. */
    public static ModelSpec tiny(GgmlType type) {
        return new ModelSpec("tandem-tiny", 256, 4, 8, 4, 768, 4096, 2048, type, false, 42);
    }

    /** ~125M parameters (dim 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab 32000): for benchmarks. */
    public static ModelSpec small(GgmlType type) {
        return new ModelSpec("tandem-small", 768, 12, 12, 4, 2048, 32000, 2048, type, false, 42);
    }

    public static ModelSpec preset(String name, GgmlType type) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny" -> tiny(type);
            case "small" -> small(type);
            default -> throw new IllegalArgumentException("preset: '" + name + "' (expected: tiny or small)");
        };
    }

    public ModelSpec withSeed(long s) {
        return new ModelSpec(name, dim, nLayers, nHeads, nKvHeads, ffnDim, vocabSize, context, type, tied, s);
    }

    public ModelSpec withType(GgmlType t) {
        return new ModelSpec(name, dim, nLayers, nHeads, nKvHeads, ffnDim, vocabSize, context, t, tied, seed);
    }

    public ModelSpec withTied(boolean t) {
        return new ModelSpec(name, dim, nLayers, nHeads, nKvHeads, ffnDim, vocabSize, context, type, t, seed);
    }

    public int headDim() {
        return dim / nHeads;
    }

    /** Parameters, norms included. */
    public long parameterCount() {
        long kvDim = (long) nKvHeads * headDim();
        long perLayer = 2L * dim * dim + 2L * kvDim * dim + 3L * dim * ffnDim + 2L * dim;
        return nLayers * perLayer + (tied ? 1 : 2) * (long) vocabSize * dim + dim;
    }
}
