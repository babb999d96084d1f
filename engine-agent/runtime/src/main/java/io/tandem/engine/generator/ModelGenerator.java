package io.tandem.engine.generator;

import io.tandem.engine.gguf.GgufWriter;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.tensor.Quants;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Writes a Llama-family (llama, qwen2, qwen3) GGUF model with seeded random weights and a byte-level BPE tokenizer with a
 * ChatML chat template. Tests and the default demo run on such models, so nothing is downloaded.
 *
 * <p>Weights are drawn from N(0, 0.02²) (the output projection from N(0, 1/dim) so that logits are spread
 * enough for sampling to matter), norm weights from N(1, 0.1²), biases from N(0, 0.1²). Tensors are written as they are generated, one row at a time,
 * so a 500 MB model needs no more than a row of memory. The same spec always yields the same bytes.
 */
public final class ModelGenerator {
    static final String CHAT_TEMPLATE = """
            {%- for message in messages -%}
            {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}
            {{- '<|im_start|>assistant\\n' -}}
            {%- if enable_thinking is defined and enable_thinking is false -%}
            {{- '<think>\\n\\n</think>\\n\\n' -}}
            {%- endif -%}
            {%- endif -%}""";

    /** The demo model every command falls back to when given none: the small preset in Q8_0. */
    public static final Path DEFAULT_MODEL = Path.of("models", "tandem-small-q8_0.gguf");

    private ModelGenerator() {
    }

    /** The default model, generated on first use (a few seconds). */
    public static Path defaultModel() {
        return ensure(ModelSpec.small(GgmlType.Q8_0), DEFAULT_MODEL);
    }

    /** {@code file} if it exists, else the model of {@code spec} generated there (saying so on stderr). */
    public static Path ensure(ModelSpec spec, Path file) {
        if (java.nio.file.Files.exists(file)) {
            return file;
        }
        System.err.println("tandem: generating " + file + " (" + spec.name() + ", " + spec.type() + ") ...");
        try {
            java.nio.file.Files.createDirectories(file.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw new UncheckedIOException("creating the folder of " + file + ": " + e.getMessage(), e);
        }
        return generate(spec, file);
    }

    /** Writes the model to {@code out} (atomically) and returns its path. */
    public static Path generate(ModelSpec spec, Path out) {
        ByteLevelVocab vocab = new ByteLevelVocab(spec.vocabSize(), spec.seed());
        GgufWriter w = new GgufWriter();
        String a = spec.architecture() + ".";
        w.putString("general.architecture", spec.architecture());
        w.putString("general.name", spec.name());
        w.putUInt32("general.file_type", spec.type() == GgmlType.F32 ? 0 : spec.type() == GgmlType.Q8_0 ? 7 : 1);
        w.putUInt32(a + "context_length", spec.context());
        w.putUInt32(a + "embedding_length", spec.dim());
        w.putUInt32(a + "block_count", spec.nLayers());
        w.putUInt32(a + "feed_forward_length", spec.ffnDim());
        w.putUInt32(a + "attention.head_count", spec.nHeads());
        w.putUInt32(a + "attention.head_count_kv", spec.nKvHeads());
        w.putUInt32(a + "attention.key_length", spec.headDim());
        w.putUInt32(a + "attention.value_length", spec.headDim());
        w.putFloat32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32(a + "rope.freq_base", 10000f);
        w.putUInt32(a + "rope.dimension_count", spec.headDim());
        w.putUInt32(a + "vocab_size", spec.vocabSize());

        w.putString("tokenizer.ggml.model", "gpt2");
        w.putString("tokenizer.ggml.pre", "gpt2");
        w.putStringArray("tokenizer.ggml.tokens", vocab.tokens.toArray(String[]::new));
        w.putInt32Array("tokenizer.ggml.token_type", vocab.types);
        w.putStringArray("tokenizer.ggml.merges", vocab.merges.toArray(String[]::new));
        int eos = vocab.id(ByteLevelVocab.EOS);
        w.putUInt32("tokenizer.ggml.bos_token_id", eos);
        w.putUInt32("tokenizer.ggml.eos_token_id", eos);
        w.putUInt32("tokenizer.ggml.padding_token_id", eos);
        w.putUInt32("tokenizer.ggml.eot_token_id", vocab.id(ByteLevelVocab.IM_END));
        w.putBool("tokenizer.ggml.add_bos_token", false);
        w.putString("tokenizer.chat_template", CHAT_TEMPLATE);

        int dim = spec.dim();
        int qDim = spec.qDim();
        int kvDim = spec.nKvHeads() * spec.headDim();
        float std = 0.02f;
        matrix(w, spec, "token_embd.weight", spec.vocabSize(), dim, 1f);
        for (int l = 0; l < spec.nLayers(); l++) {
            String b = "blk." + l + ".";
            norm(w, spec, b + "attn_norm.weight", dim);
            matrix(w, spec, b + "attn_q.weight", qDim, dim, std);
            matrix(w, spec, b + "attn_k.weight", kvDim, dim, std);
            matrix(w, spec, b + "attn_v.weight", kvDim, dim, std);
            if (spec.architecture().equals("qwen2")) {
                vector(w, spec, b + "attn_q.bias", qDim, 0f, 0.1f);
                vector(w, spec, b + "attn_k.bias", kvDim, 0f, 0.1f);
                vector(w, spec, b + "attn_v.bias", kvDim, 0f, 0.1f);
            } else if (spec.architecture().equals("qwen3")) {
                norm(w, spec, b + "attn_q_norm.weight", spec.headDim());
                norm(w, spec, b + "attn_k_norm.weight", spec.headDim());
            }
            matrix(w, spec, b + "attn_output.weight", dim, qDim, std);
            norm(w, spec, b + "ffn_norm.weight", dim);
            matrix(w, spec, b + "ffn_gate.weight", spec.ffnDim(), dim, std);
            matrix(w, spec, b + "ffn_up.weight", spec.ffnDim(), dim, std);
            matrix(w, spec, b + "ffn_down.weight", dim, spec.ffnDim(), std);
        }
        norm(w, spec, "output_norm.weight", dim);
        if (!spec.tied()) {
            matrix(w, spec, "output.weight", spec.vocabSize(), dim, (float) (1 / Math.sqrt(dim)));
        }
        try {
            w.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + out + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** An RMSNorm weight near one, so that a norm applied with the wrong weights shows in tests. */
    private static void norm(GgufWriter w, ModelSpec spec, String name, int n) {
        vector(w, spec, name, n, 1f, 0.1f);
    }

    /** An F32 vector drawn from N(mean, std²) by a stream seeded from the spec and name. */
    private static void vector(GgufWriter w, ModelSpec spec, String name, int n, float mean, float std) {
        SplittableRandom rnd = new SplittableRandom(spec.seed() * 0x9E3779B97F4A7C15L ^ hash(name));
        ByteBuffer bb = ByteBuffer.allocate(n * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            bb.putFloat((float) (mean + rnd.nextGaussian() * std));
        }
        w.addTensor(name, GgmlType.F32, new long[] {n}, bb.array());
    }

    /** A [rows, cols] matrix whose rows are drawn from N(0, std²) by a stream seeded from the spec and name. */
    private static void matrix(GgufWriter w, ModelSpec spec, String name, int rows, int cols, float std) {
        GgmlType type = spec.type();
        long seed = spec.seed() * 0x9E3779B97F4A7C15L ^ hash(name);
        w.addTensor(name, type, new long[] {cols, rows}, ch -> writeRows(ch, type, rows, cols, std, seed));
    }

    private static void writeRows(WritableByteChannel ch, GgmlType type, int rows, int cols, float std, long seed)
            throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] row = new float[cols];
        int rowBytes = Math.toIntExact(type.byteSize(cols));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(rowBytes);
            ByteBuffer buf = seg.asByteBuffer();
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    row[c] = (float) (rnd.nextGaussian() * std);
                }
                Quants.quantizeRow(type, row, 0, cols, seg, 0);
                buf.clear();
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            }
        }
    }

    private static long hash(String s) {
        long h = 1125899906842597L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h = 31 * h + b;
        }
        return h;
    }
}
