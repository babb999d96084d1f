package io.tandem.engine.weights;

import io.tandem.engine.model.Architecture;
import io.tandem.engine.model.ModelConfig;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The two names of each updatable tensor: GGUF's (what the engine uses) and Hugging Face's (what trainers
 * have), and the Q/K row permutation that llama.cpp's {@code convert_hf_to_gguf.py} applies to Llama and
 * Mistral so that the engine's adjacent-pair RoPE matches HF's rotate-half RoPE.
 */
final class TensorNames {
    private static final Pattern GGUF_LAYER = Pattern.compile("blk\\.(\\d+)\\.(.+)");
    private static final Pattern HF_LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");

    private static final Map<String, String> GLOBAL_HF_TO_GGUF = Map.of(
            "model.embed_tokens.weight", "token_embd.weight",
            "model.norm.weight", "output_norm.weight",
            "lm_head.weight", "output.weight");

    // Per-layer suffixes, HF -> GGUF.
    private static final Map<String, String> LAYER_HF_TO_GGUF = Map.ofEntries(
            Map.entry("input_layernorm.weight", "attn_norm.weight"),
            Map.entry("post_attention_layernorm.weight", "ffn_norm.weight"),
            Map.entry("self_attn.q_proj.weight", "attn_q.weight"),
            Map.entry("self_attn.k_proj.weight", "attn_k.weight"),
            Map.entry("self_attn.v_proj.weight", "attn_v.weight"),
            Map.entry("self_attn.o_proj.weight", "attn_output.weight"),
            Map.entry("self_attn.q_proj.bias", "attn_q.bias"),
            Map.entry("self_attn.k_proj.bias", "attn_k.bias"),
            Map.entry("self_attn.v_proj.bias", "attn_v.bias"),
            Map.entry("self_attn.q_norm.weight", "attn_q_norm.weight"),
            Map.entry("self_attn.k_norm.weight", "attn_k_norm.weight"),
            Map.entry("mlp.gate_proj.weight", "ffn_gate.weight"),
            Map.entry("mlp.up_proj.weight", "ffn_up.weight"),
            Map.entry("mlp.down_proj.weight", "ffn_down.weight"));

    private TensorNames() {
    }

    /** A tensor name resolved to the engine's: the GGUF name, and whether it came in HF convention. */
    record Resolved(String ggufName, boolean huggingFace) {
    }

    /** Resolves a GGUF or HF name; null when it is neither (the caller checks the layer range). */
    static Resolved resolve(String name) {
        if (GLOBAL_HF_TO_GGUF.containsKey(name)) {
            return new Resolved(GLOBAL_HF_TO_GGUF.get(name), true);
        }
        Matcher m = HF_LAYER.matcher(name);
        if (m.matches()) {
            String suffix = LAYER_HF_TO_GGUF.get(m.group(2));
            return suffix == null ? null : new Resolved("blk." + Integer.parseInt(m.group(1)) + "." + suffix, true);
        }
        if (GLOBAL_HF_TO_GGUF.containsValue(name)) {
            return new Resolved(name, false);
        }
        m = GGUF_LAYER.matcher(name);
        if (m.matches() && LAYER_HF_TO_GGUF.containsValue(m.group(2))) {
            return new Resolved("blk." + Integer.parseInt(m.group(1)) + "." + m.group(2), false);
        }
        return null;
    }

    /** The HF name of a GGUF name that {@link #resolve} accepts. */
    static String toHuggingFace(String ggufName) {
        for (var e : GLOBAL_HF_TO_GGUF.entrySet()) {
            if (e.getValue().equals(ggufName)) {
                return e.getKey();
            }
        }
        Matcher m = GGUF_LAYER.matcher(ggufName);
        if (m.matches()) {
            for (var e : LAYER_HF_TO_GGUF.entrySet()) {
                if (e.getValue().equals(m.group(2))) {
                    return "model.layers." + m.group(1) + "." + e.getKey();
                }
            }
        }
        throw new IllegalArgumentException("ggufName: '" + ggufName + "' (expected: an updatable tensor name)");
    }

    /**
     * Heads to permute by for an HF tensor of this GGUF name: the query heads for {@code attn_q}, the KV heads
     * for {@code attn_k} (weights and biases), in Llama/Mistral models; 0 when no permutation applies.
     */
    static int permutationHeads(String ggufName, ModelConfig c) {
        if (c.architecture().ropeStyle() != Architecture.RopeStyle.ADJACENT_PAIRS) {
            return 0; // Qwen2/3 keep HF's rotate-half order
        }
        if (ggufName.endsWith(".attn_q.weight") || ggufName.endsWith(".attn_q.bias")) {
            return c.nHeads();
        }
        if (ggufName.endsWith(".attn_k.weight") || ggufName.endsWith(".attn_k.bias")) {
            return c.nKvHeads();
        }
        return 0;
    }

    /**
     * convert_hf_to_gguf.py's {@code permute}: {@code w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)}.
     * Within each head of {@code hd} rows, HF row {@code s*hd/2 + j} becomes GGUF row {@code 2j + s}, which turns
     * rotate-half pairs (j, j+hd/2) into adjacent pairs (2j, 2j+1). {@code src} is row-major [rows, cols].
     */
    static float[] hfToGguf(float[] src, int rows, int cols, int nHeads) {
        return permute(src, rows, cols, nHeads, true);
    }

    /** The inverse of {@link #hfToGguf}. */
    static float[] ggufToHf(float[] src, int rows, int cols, int nHeads) {
        return permute(src, rows, cols, nHeads, false);
    }

    private static float[] permute(float[] src, int rows, int cols, int nHeads, boolean forward) {
        if (rows % nHeads != 0 || (rows / nHeads) % 2 != 0) {
            throw new IllegalArgumentException("rows: " + rows + " (expected: a multiple of 2 * " + nHeads + " heads)");
        }
        int hd = rows / nHeads;
        int half = hd / 2;
        float[] out = new float[src.length];
        for (int h = 0; h < nHeads; h++) {
            for (int j = 0; j < half; j++) {
                for (int sIdx = 0; sIdx < 2; sIdx++) {
                    int hfRow = h * hd + sIdx * half + j;
                    int ggufRow = h * hd + 2 * j + sIdx;
                    int from = forward ? hfRow : ggufRow;
                    int to = forward ? ggufRow : hfRow;
                    System.arraycopy(src, from * cols, out, to * cols, cols);
                }
            }
        }
        return out;
    }
}
