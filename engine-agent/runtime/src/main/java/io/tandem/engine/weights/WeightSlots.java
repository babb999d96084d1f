package io.tandem.engine.weights;

import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.model.LayerWeights;
import io.tandem.engine.model.ModelWeights;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The updatable tensors of a {@link ModelWeights} by GGUF name, and the assembly of new weights from old ones
 * plus replacements. Values are {@link WeightMatrix} (matrices) or {@code float[]} (norms, biases).
 */
final class WeightSlots {
    private WeightSlots() {
    }

    /**
     * Every updatable tensor of {@code w}, in file order. A tied output projection is not listed separately: it
     * is the embedding. {@code rope_freqs} is not trained, so not updatable.
     */
    static Map<String, Object> tensors(ModelWeights w) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("token_embd.weight", w.tokenEmbedding());
        for (int i = 0; i < w.layers().size(); i++) {
            LayerWeights l = w.layers().get(i);
            String b = "blk." + i + ".";
            m.put(b + "attn_norm.weight", l.attnNorm());
            m.put(b + "attn_q.weight", l.wq());
            m.put(b + "attn_k.weight", l.wk());
            m.put(b + "attn_v.weight", l.wv());
            m.put(b + "attn_output.weight", l.wo());
            putIfPresent(m, b + "attn_q.bias", l.bq());
            putIfPresent(m, b + "attn_k.bias", l.bk());
            putIfPresent(m, b + "attn_v.bias", l.bv());
            putIfPresent(m, b + "attn_q_norm.weight", l.qNorm());
            putIfPresent(m, b + "attn_k_norm.weight", l.kNorm());
            m.put(b + "ffn_norm.weight", l.ffnNorm());
            m.put(b + "ffn_gate.weight", l.wGate());
            m.put(b + "ffn_up.weight", l.wUp());
            m.put(b + "ffn_down.weight", l.wDown());
        }
        m.put("output_norm.weight", w.outputNorm());
        if (w.output() != w.tokenEmbedding()) {
            m.put("output.weight", w.output());
        }
        return m;
    }

    private static void putIfPresent(Map<String, Object> m, String name, float[] v) {
        if (v != null) {
            m.put(name, v);
        }
    }

    /**
     * {@code base} with the tensors in {@code staged} (GGUF names, from {@link #tensors} of a model of the same
     * shape) replaced; the rest are the same objects. A tied model's embedding stays tied.
     */
    static ModelWeights replace(ModelWeights base, Map<String, Object> staged) {
        WeightMatrix embd = (WeightMatrix) staged.getOrDefault("token_embd.weight", base.tokenEmbedding());
        boolean tied = base.output() == base.tokenEmbedding();
        WeightMatrix output = tied ? embd : (WeightMatrix) staged.getOrDefault("output.weight", base.output());
        List<LayerWeights> layers = new ArrayList<>(base.layers().size());
        for (int i = 0; i < base.layers().size(); i++) {
            LayerWeights l = base.layers().get(i);
            String b = "blk." + i + ".";
            layers.add(new LayerWeights(
                    vec(staged, b + "attn_norm.weight", l.attnNorm()),
                    mat(staged, b + "attn_q.weight", l.wq()),
                    mat(staged, b + "attn_k.weight", l.wk()),
                    mat(staged, b + "attn_v.weight", l.wv()),
                    mat(staged, b + "attn_output.weight", l.wo()),
                    vec(staged, b + "attn_q.bias", l.bq()),
                    vec(staged, b + "attn_k.bias", l.bk()),
                    vec(staged, b + "attn_v.bias", l.bv()),
                    vec(staged, b + "attn_q_norm.weight", l.qNorm()),
                    vec(staged, b + "attn_k_norm.weight", l.kNorm()),
                    vec(staged, b + "ffn_norm.weight", l.ffnNorm()),
                    mat(staged, b + "ffn_gate.weight", l.wGate()),
                    mat(staged, b + "ffn_up.weight", l.wUp()),
                    mat(staged, b + "ffn_down.weight", l.wDown())));
        }
        return new ModelWeights(embd, layers, vec(staged, "output_norm.weight", base.outputNorm()), output,
                base.ropeFreqFactors());
    }

    private static WeightMatrix mat(Map<String, Object> staged, String name, WeightMatrix old) {
        return (WeightMatrix) staged.getOrDefault(name, old);
    }

    private static float[] vec(Map<String, Object> staged, String name, float[] old) {
        return (float[]) staged.getOrDefault(name, old);
    }
}
