package io.tandem.engine.cli;

import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem gguf-gen}: writes a Llama-architecture GGUF with seeded random weights. */
@Command(name = "gguf-gen", mixinStandardHelpOptions = true,
        description = "Write a Llama-family GGUF model with seeded random weights and a byte-level tokenizer.")
final class GgufGenCommand implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "tiny", description = "tiny (a few M parameters) or small (~125M). Default: ${DEFAULT-VALUE}")
    String preset;

    @Option(names = "--type", defaultValue = "f32", description = "Matrix type: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k. Default: ${DEFAULT-VALUE}")
    String type;

    @Option(names = {"-o", "--output"}, required = true, description = "File to write.")
    Path output;

    @Option(names = "--seed", defaultValue = "42", description = "Weight seed. Default: ${DEFAULT-VALUE}")
    long seed;

    @Option(names = "--dim", description = "Override the model width.")
    Integer dim;

    @Option(names = "--layers", description = "Override the number of layers.")
    Integer layers;

    @Option(names = "--heads", description = "Override the number of query heads.")
    Integer heads;

    @Option(names = "--kv-heads", description = "Override the number of key/value heads.")
    Integer kvHeads;

    @Option(names = "--ffn", description = "Override the feed-forward width.")
    Integer ffn;

    @Option(names = "--vocab", description = "Override the vocabulary size.")
    Integer vocab;

    @Option(names = "--context", description = "Override the context length.")
    Integer context;

    @Option(names = "--tied", description = "Tie the output projection to the embedding table.")
    boolean tied;

    @Option(names = "--arch", defaultValue = "llama", description = "llama, qwen2 (Q/K/V biases) or qwen3 (Q/K norms). Default: ${DEFAULT-VALUE}")
    String arch;

    @Option(names = "--head-dim", description = "Head size (qwen3 only may differ from dim / heads).")
    Integer headDim;

    @Override
    public Integer call() {
        ModelSpec p = ModelSpec.preset(preset, parseType(type)).withSeed(seed);
        ModelSpec spec = new ModelSpec(p.name(), arch, or(dim, p.dim()), or(layers, p.nLayers()),
                or(heads, p.nHeads()), or(kvHeads, p.nKvHeads()), or(headDim, 0), or(ffn, p.ffnDim()),
                or(vocab, p.vocabSize()), or(context, p.context()), p.type(), tied, seed);
        long t0 = System.nanoTime();
        Path parent = output.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        ModelGenerator.generate(spec, output);
        System.out.printf(Locale.ROOT, "wrote %s: %s, %.1fM parameters, %s, %.1f MB in %.1f s%n", output,
                spec.name(), spec.parameterCount() / 1e6, spec.type(), output.toFile().length() / 1e6,
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    private static int or(Integer v, int d) {
        return v != null ? v : d;
    }

    static GgmlType parseType(String s) {
        try {
            return GgmlType.valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("type: '" + s + "' (expected: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)");
        }
    }
}
