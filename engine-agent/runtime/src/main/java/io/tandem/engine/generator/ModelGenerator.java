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
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Writes a Llama-architecture GGUF model with seeded random weights and a byte-level BPE tokenizer with a
 * ChatML chat template. Tests and the default demo run on such models, so nothing is downloaded.
 *
 * <p>Weights are drawn from N(0, 0.02²) (the output projection from N(0, 1/dim) so that logits are spread
 * enough for sampling to matter), norms are ones. Tensors are written as they are generated, one row at a time,
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

    private ModelGenerator() {
    }

    /** Writes the model to {@code out} (atomically) and returns its path. */
    public static Path generate(ModelSpec spec, Path out) {
        ByteLevelVocab vocab = new ByteLevelVocab(spec.vocabSize(), spec.seed());
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", spec.name());
        w.putUInt32("general.file_type", spec.type() == GgmlType.F32 ? 0 : spec.type() == GgmlType.Q8_0 ? 7 : 1);
        w.putUInt32("llama.context_length", spec.context());
        w.putUInt32("llama.embedding_length", spec.dim());
        w.putUInt32("llama.block_count", spec.nLayers());
        w.putUInt32("llama.feed_forward_length", spec.ffnDim());
        w.putUInt32("llama.attention.head_count", spec.nHeads());
        w.putUInt32("llama.attention.head_count_kv", spec.nKvHeads());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32("llama.rope.freq_base", 10000f);
        w.putUInt32("llama.rope.dimension_count", spec.headDim());
        w.putUInt32("llama.vocab_size", spec.vocabSize());

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
        int kvDim = spec.nKvHeads() * spec.headDim();
        float std = 0.02f;
        matrix(w, spec, "token_embd.weight", spec.vocabSize(), dim, 1f);
        for (int l = 0; l < spec.nLayers(); l++) {
            String b = "blk." + l + ".";
            ones(w, b + "attn_norm.weight", dim);
            matrix(w, spec, b + "attn_q.weight", dim, dim, std);
            matrix(w, spec, b + "attn_k.weight", kvDim, dim, std);
            matrix(w, spec, b + "attn_v.weight", kvDim, dim, std);
            matrix(w, spec, b + "attn_output.weight", dim, dim, std);
            ones(w, b + "ffn_norm.weight", dim);
            matrix(w, spec, b + "ffn_gate.weight", spec.ffnDim(), dim, std);
            matrix(w, spec, b + "ffn_up.weight", spec.ffnDim(), dim, std);
            matrix(w, spec, b + "ffn_down.weight", dim, spec.ffnDim(), std);
        }
        ones(w, "output_norm.weight", dim);
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

    private static void ones(GgufWriter w, String name, int n) {
        float[] v = new float[n];
        Arrays.fill(v, 1f);
        ByteBuffer bb = ByteBuffer.allocate(n * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(v);
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
