package io.tandem.engine.generator;

import io.tandem.engine.tensor.GgmlType;
import java.util.Locale;

/**
 * The shape of a generated Llama-architecture model.
 *
 * @param name       {@code general.name}
 * @param architecture {@code llama}, {@code qwen2} (adds Q/K/V biases) or {@code qwen3} (adds per-head Q/K norms)
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
public record ModelSpec(String name, String architecture, int dim, int nLayers, int nHeads, int nKvHeads,
                        int headDim, int ffnDim, int vocabSize, int context, GgmlType type, boolean tied, long seed) {

    public ModelSpec {
        if (!java.util.Set.of("llama", "qwen2", "qwen3").contains(architecture)) {
            throw new IllegalArgumentException("architecture: '" + architecture + "' (expected: llama, qwen2 or qwen3)");
        }
        if (headDim == 0) {
            headDim = nHeads == 0 ? 0 : dim / nHeads;
        }
        if (dim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || ffnDim <= 0 || context <= 0) {
            throw new IllegalArgumentException("sizes must be > 0: dim " + dim + ", layers " + nLayers + ", heads "
                    + nHeads + ", kv heads " + nKvHeads + ", ffn " + ffnDim + ", context " + context);
        }
        if (nHeads % nKvHeads != 0 || headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("heads " + nHeads + ", kv heads " + nKvHeads + ", head dim " + headDim
                    + " (expected: an even head size, heads divisible by kv heads)");
        }
        if (headDim != dim / nHeads && !architecture.equals("qwen3")) {
            throw new IllegalArgumentException("head dim " + headDim + " (expected: dim / heads = " + dim / nHeads
                    + "; only qwen3 files carry their own key_length)");
        }
        if (vocabSize < ByteLevelVocab.MIN_VOCAB) {
            throw new IllegalArgumentException("vocabSize: " + vocabSize + " (expected: >= " + ByteLevelVocab.MIN_VOCAB + ")");
        }
        int bs = type.blockSize();
        if (dim % bs != 0 || ffnDim % bs != 0 || (nHeads * headDim) % bs != 0) {
            throw new IllegalArgumentException("dim " + dim + ", ffn " + ffnDim + " and heads x head dim "
                    + nHeads * headDim + " must be multiples of " + bs + " for " + type);
        }
    }

    /** A few million parameters: fast enough for every test. */
    public static ModelSpec tiny(GgmlType type) {
        return new ModelSpec("tandem-tiny", "llama", 256, 4, 8, 4, 32, 768, 4096, 2048, type, false, 42);
    }

    /** ~125M parameters (dim 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab 32000): for benchmarks. */
    public static ModelSpec small(GgmlType type) {
        return new ModelSpec("tandem-small", "llama", 768, 12, 12, 4, 64, 2048, 32000, 2048, type, false, 42);
    }

    public static ModelSpec preset(String name, GgmlType type) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny" -> tiny(type);
            case "small" -> small(type);
            default -> throw new IllegalArgumentException("preset: '" + name + "' (expected: tiny or small)");
        };
    }

    public ModelSpec withSeed(long s) {
        return new ModelSpec(name, architecture, dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize, context,
                type, tied, s);
    }

    public ModelSpec withType(GgmlType t) {
        return new ModelSpec(name, architecture, dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize, context,
                t, tied, seed);
    }

    public ModelSpec withTied(boolean t) {
        return new ModelSpec(name, architecture, dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize, context,
                type, t, seed);
    }

    public ModelSpec withArchitecture(String arch) {
        return new ModelSpec(name, arch, dim, nLayers, nHeads, nKvHeads, headDim, ffnDim, vocabSize, context, type,
                tied, seed);
    }

    public int qDim() {
        return nHeads * headDim;
    }

    /** Parameters, norms included. */
    public long parameterCount() {
        long kvDim = (long) nKvHeads * headDim;
        long perLayer = 2L * qDim() * dim + 2L * kvDim * dim + 3L * dim * ffnDim + 2L * dim;
        if (architecture.equals("qwen2")) {
            perLayer += qDim() + 2 * kvDim;
        } else if (architecture.equals("qwen3")) {
            perLayer += 2L * headDim;
        }
        return nLayers * perLayer + (tied ? 1 : 2) * (long) vocabSize * dim + dim;
    }
}
