package io.tandem.engine.model;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The Llama-family variants the engine runs, keyed by GGUF's {@code general.architecture}. They share one
 * forward pass (RMSNorm, RoPE, GQA attention, SwiGLU) and differ in a few switches.
 */
public enum Architecture {
    /** Llama 2/3, Mistral and SmolLM files all say {@code llama}. GGUF conversion permutes Q/K for adjacent-pair RoPE. */
    LLAMA("llama", RopeStyle.ADJACENT_PAIRS, false, false),
    /** Some converters write Mistral models under their own name; same tensors as llama. */
    MISTRAL("mistral", RopeStyle.ADJACENT_PAIRS, false, false),
    /** Qwen2 and Qwen2.5: biases on Q, K and V; NeoX-style RoPE (halves). */
    QWEN2("qwen2", RopeStyle.HALVES, true, false),
    /** Qwen3: no QKV biases, an RMSNorm over each head of Q and K before RoPE. */
    QWEN3("qwen3", RopeStyle.HALVES, false, true);

    /** Which pairs of a head's dimensions RoPE rotates together. */
    public enum RopeStyle {
        /** (0,1), (2,3), ... as in the original Llama code and ggml's "normal" mode. */
        ADJACENT_PAIRS,
        /** (i, i + d/2), as in GPT-NeoX and HF's rotate_half. */
        HALVES
    }

    private final String ggufName;
    private final RopeStyle ropeStyle;
    private final boolean qkvBias;
    private final boolean qkNorm;

    Architecture(String ggufName, RopeStyle ropeStyle, boolean qkvBias, boolean qkNorm) {
        this.ggufName = ggufName;
        this.ropeStyle = ropeStyle;
        this.qkvBias = qkvBias;
        this.qkNorm = qkNorm;
    }

    public String ggufName() {
        return ggufName;
    }

    public RopeStyle ropeStyle() {
        return ropeStyle;
    }

    public boolean qkvBias() {
        return qkvBias;
    }

    public boolean qkNorm() {
        return qkNorm;
    }

    /** The architecture named {@code name}, or null. */
    public static Architecture fromGguf(String name) {
        if (name == null) {
            return null;
        }
        String n = name.toLowerCase(Locale.ROOT);
        for (Architecture a : values()) {
            if (a.ggufName.equals(n)) {
                return a;
            }
        }
        return null;
    }

    public static String supportedNames() {
        return Arrays.stream(values()).map(Architecture::ggufName).collect(Collectors.joining(", "));
    }
}
