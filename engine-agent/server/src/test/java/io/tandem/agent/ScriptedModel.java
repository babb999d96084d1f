package io.tandem.agent;

import io.tandem.engine.gguf.GgufFile;
import io.tandem.engine.gguf.GgufTensor;
import io.tandem.engine.gguf.GgufWriter;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A tiny model whose output is scripted: a real GGUF run by the real engine, rewritten from the generated tiny
 * model so that each token of {@code chain} is followed, with overwhelming probability, by the next one.
 *
 * <p>How: every attention output and FFN down projection is zero, so the residual stream of a position is its
 * token's embedding; chain token {@code i} embeds as the unit vector {@code e_i} (every other token as zero), and
 * the output row of chain token {@code i + 1} is {@code 2 e_i}. After the final RMSNorm ({@code e_i} becomes
 * about {@code sqrt(dim) e_i = 16 e_i}) the logit of the successor is about 32 and every other logit 0: a bigram
 * table that the sampler follows even at temperature 1. Tokens outside the chain give all-zero logits.
 *
 * <p>Real chat templates end the prompt with a newline, so a chain that starts with the newline token decides the
 * whole answer. The chain must not repeat a token.
 */
final class ScriptedModel {
    private ScriptedModel() {
    }

    /**
     * Writes (once) the scripted model under target/it-models.
     *
     * @param name         file name stem
     * @param chatTemplate replaces the template when not null
     * @param chain        tokens in the vocabulary's own spelling (byte-level: "Ċ" is the newline)
     */
    static synchronized Path write(String name, String chatTemplate, String... chain) {
        Path out = AgentProcess.MODULE.resolve("target/it-models/" + name + ".gguf");
        if (Files.exists(out)) {
            return out;
        }
        try (GgufFile base = GgufFile.open(AgentProcess.tinyModel(42))) {
            List<String> vocab = Arrays.asList((String[]) base.metadata().getArray("tokenizer.ggml.tokens").values());
            int[] ids = new int[chain.length];
            for (int i = 0; i < chain.length; i++) {
                ids[i] = vocab.indexOf(chain[i]);
                if (ids[i] < 0) {
                    throw new IllegalArgumentException("token '" + chain[i] + "' is not in the vocabulary");
                }
            }
            if (Arrays.stream(ids).distinct().count() != ids.length) {
                throw new IllegalArgumentException("chain repeats a token: " + List.of(chain));
            }
            GgufWriter w = new GgufWriter().putAll(base.metadata());
            if (chatTemplate != null) {
                w.putString("tokenizer.chat_template", chatTemplate);
            }
            for (GgufTensor t : base.tensors()) {
                if (t.type() != GgmlType.F32) {
                    throw new IllegalStateException(t.name() + " is " + t.type() + " (expected: the F32 tiny model)");
                }
                int dim = (int) t.dim(0);
                if (t.name().equals("token_embd.weight") || t.name().equals("output.weight")) {
                    // (vocab, dim) row-major: row r at [r * dim, (r + 1) * dim)
                    float[] m = new float[Math.toIntExact(t.elementCount())];
                    boolean embd = t.name().equals("token_embd.weight");
                    for (int i = 0; i + 1 < ids.length; i++) {
                        if (i >= dim) {
                            throw new IllegalArgumentException("chain longer than the model width " + dim);
                        }
                        if (embd) {
                            m[ids[i] * dim + i] = 1f;
                        } else {
                            m[ids[i + 1] * dim + i] = 2f;
                        }
                    }
                    w.addTensor(t.name(), t.type(), t.shape(), MemorySegment.ofArray(m));
                } else if (t.name().endsWith(".attn_output.weight") || t.name().endsWith(".ffn_down.weight")) {
                    w.addTensor(t.name(), t.type(), t.shape(), MemorySegment.ofArray(new float[Math.toIntExact(t.elementCount())]));
                } else {
                    w.addTensor(t.name(), t.type(), t.shape(), t.data());
                }
            }
            w.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}
