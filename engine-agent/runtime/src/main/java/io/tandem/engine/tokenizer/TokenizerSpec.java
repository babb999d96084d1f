package io.tandem.engine.tokenizer;

import java.lang.System.Logger.Level;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * Everything a tokenizer needs from a model file, decoupled from the GGUF reader so that tokenization can be
 * built and tested without it. Field meanings follow the GGUF {@code tokenizer.*} keys.
 *
 * <p>Token types use GGUF's numbering: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
 * Special ids are {@code -1} when the model has none.
 *
 * <p>Immutable: arrays are copied in and out, lists are unmodifiable copies. Safe to share across threads.
 *
 * @param model          {@code tokenizer.ggml.model}: {@code "llama"} (SentencePiece) or {@code "gpt2"} (byte-level BPE)
 * @param pre            {@code tokenizer.ggml.pre}: the BPE pre-tokenizer name, or {@code null}
 * @param tokens         the vocabulary, indexed by id
 * @param scores         per-token scores (SentencePiece merge priorities), or {@code null}
 * @param tokenTypes     per-token GGUF token types, or {@code null} (then every token is normal)
 * @param merges         BPE merges {@code "left right"} in rank order; empty for SentencePiece
 * @param chatTemplate   {@code tokenizer.chat_template}, or {@code null}
 */
public record TokenizerSpec(
        String model,
        String pre,
        List<String> tokens,
        float[] scores,
        int[] tokenTypes,
        List<String> merges,
        int bosId,
        int eosId,
        int unkId,
        int padId,
        int eotId,
        boolean addBos,
        boolean addEos,
        boolean addSpacePrefix,
        String chatTemplate) {

    private static final System.Logger LOG = System.getLogger(TokenizerSpec.class.getName());

    public static final String MODEL_SPM = "llama";
    public static final String MODEL_BPE = "gpt2";

    public TokenizerSpec {
        Objects.requireNonNull(model, "model must not be null (tokenizer.ggml.model)");
        Objects.requireNonNull(tokens, "tokens must not be null (tokenizer.ggml.tokens)");
        if (tokens.isEmpty()) {
            throw new IllegalArgumentException("tokens must not be empty (tokenizer.ggml.tokens)");
        }
        for (int i = 0; i < tokens.size(); i++) {
            if (tokens.get(i) == null) {
                throw new IllegalArgumentException("tokens[" + i + "] is null");
            }
        }
        tokens = List.copyOf(tokens);
        if (scores != null && scores.length != tokens.size()) {
            throw new IllegalArgumentException(
                    "scores has " + scores.length + " entries but the vocabulary has " + tokens.size() + " tokens");
        }
        if (tokenTypes != null && tokenTypes.length != tokens.size()) {
            throw new IllegalArgumentException(
                    "tokenTypes has " + tokenTypes.length + " entries but the vocabulary has " + tokens.size() + " tokens");
        }
        scores = scores == null ? null : scores.clone();
        tokenTypes = tokenTypes == null ? null : tokenTypes.clone();
        merges = merges == null ? List.of() : List.copyOf(merges);
        int n = tokens.size();
        checkId("bosId", bosId, n);
        checkId("eosId", eosId, n);
        checkId("unkId", unkId, n);
        checkId("padId", padId, n);
        checkId("eotId", eotId, n);
    }

    private static void checkId(String name, int id, int vocabSize) {
        if (id < -1 || id >= vocabSize) {
            throw new IllegalArgumentException(
                    name + " must be -1 (absent) or in [0, " + vocabSize + "), was " + id);
        }
    }

    /** A copy: the record stays immutable. */
    @Override
    public float[] scores() {
        return scores == null ? null : scores.clone();
    }

    /** A copy: the record stays immutable. */
    @Override
    public int[] tokenTypes() {
        return tokenTypes == null ? null : tokenTypes.clone();
    }

    /** Arrays compare by content, so two specs read from the same file are equal. */
    @Override
    public boolean equals(Object o) {
        return o instanceof TokenizerSpec s
                && model.equals(s.model) && Objects.equals(pre, s.pre) && tokens.equals(s.tokens)
                && Arrays.equals(scores, s.scores) && Arrays.equals(tokenTypes, s.tokenTypes)
                && merges.equals(s.merges) && bosId == s.bosId && eosId == s.eosId && unkId == s.unkId
                && padId == s.padId && eotId == s.eotId && addBos == s.addBos && addEos == s.addEos
                && addSpacePrefix == s.addSpacePrefix && Objects.equals(chatTemplate, s.chatTemplate);
    }

    @Override
    public int hashCode() {
        return Objects.hash(model, pre, tokens, Arrays.hashCode(scores), Arrays.hashCode(tokenTypes), merges,
                bosId, eosId, unkId, padId, eotId, addBos, addEos, addSpacePrefix, chatTemplate);
    }

    @Override
    public String toString() {
        return "TokenizerSpec[model=" + model + ", pre=" + pre + ", vocab=" + tokens.size() + ", merges="
                + merges.size() + ", bos=" + bosId + ", eos=" + eosId + ", unk=" + unkId + ", pad=" + padId
                + ", eot=" + eotId + ", addBos=" + addBos + ", addEos=" + addEos + ", addSpacePrefix="
                + addSpacePrefix + ", chatTemplate=" + (chatTemplate == null ? "none" : chatTemplate.length() + " chars")
                + "]";
    }

    /**
     * Reads the standard GGUF tokenizer keys through {@code get}, which returns {@code null} for an absent key.
     * Values are converted defensively (a GGUF writer may use u32 or i32, f32 or f64, arrays or lists).
     *
     * <p>Absent keys take llama.cpp's defaults ({@code llama_vocab::impl::load}): for SentencePiece BOS=1, EOS=2,
     * UNK=0, add BOS, add the space prefix; for byte-level BPE BOS=EOS=11 (llama.cpp's legacy GPT-2 default),
     * no UNK, no BOS unless the pre-tokenizer is a Llama-3 one, no space prefix. Special ids that are out of range
     * (including u32 {@code 0xFFFFFFFF}, the usual "none" marker) become the default, as llama.cpp does.
     */
    public static TokenizerSpec fromMetadata(Function<String, Object> get) {
        Objects.requireNonNull(get, "get must not be null");
        Object modelValue = get.apply("tokenizer.ggml.model");
        if (modelValue == null) {
            throw new IllegalArgumentException("GGUF metadata has no tokenizer.ggml.model");
        }
        String model = modelValue.toString();
        String pre = asString(get.apply("tokenizer.ggml.pre"));
        List<String> tokens = asStringList(get.apply("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens");
        if (tokens == null) {
            throw new IllegalArgumentException("GGUF metadata has no tokenizer.ggml.tokens");
        }
        float[] scores = asFloatArray(get.apply("tokenizer.ggml.scores"), "tokenizer.ggml.scores");
        int[] types = asIntArray(get.apply("tokenizer.ggml.token_type"), "tokenizer.ggml.token_type");
        List<String> merges = asStringList(get.apply("tokenizer.ggml.merges"), "tokenizer.ggml.merges");

        boolean spm = MODEL_SPM.equals(model);
        int n = tokens.size();
        int bos = specialId(get, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n);
        int eos = specialId(get, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n);
        int unk = specialId(get, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
        int pad = specialId(get, "tokenizer.ggml.padding_token_id", -1, n);
        int eot = specialId(get, "tokenizer.ggml.eot_token_id", -1, n);

        boolean defaultAddBos = spm || PreTokenizer.isLlama3(pre);
        boolean addBos = asBoolean(get.apply("tokenizer.ggml.add_bos_token"), defaultAddBos);
        boolean addEos = asBoolean(get.apply("tokenizer.ggml.add_eos_token"), false);
        boolean addSpacePrefix = asBoolean(get.apply("tokenizer.ggml.add_space_prefix"), spm);
        String template = asString(get.apply("tokenizer.chat_template"));
        return new TokenizerSpec(model, pre, tokens, scores, types, merges == null ? List.of() : merges,
                bos, eos, unk, pad, eot, addBos, addEos, addSpacePrefix, template);
    }

    private static int specialId(Function<String, Object> get, String key, int fallback, int vocabSize) {
        Object v = get.apply(key);
        int effectiveFallback = fallback < vocabSize ? fallback : -1;
        if (v == null) {
            return effectiveFallback;
        }
        if (!(v instanceof Number num)) {
            throw new IllegalArgumentException(key + " must be a number, was " + v.getClass().getSimpleName());
        }
        long id = num.longValue();
        if (id == 0xFFFFFFFFL || id == -1) {
            return -1;
        }
        if (id < 0 || id >= vocabSize) {
            LOG.log(Level.WARNING, "{0} = {1} is outside the vocabulary of {2} tokens; using {3}",
                    key, id, vocabSize, effectiveFallback);
            return effectiveFallback;
        }
        return (int) id;
    }

    private static String asString(Object v) {
        return v == null ? null : v.toString();
    }

    private static boolean asBoolean(Object v, boolean fallback) {
        return switch (v) {
            case null -> fallback;
            case Boolean b -> b;
            case Number num -> num.longValue() != 0;
            case String s -> Boolean.parseBoolean(s.trim());
            default -> throw new IllegalArgumentException("expected a boolean, got " + v.getClass().getSimpleName());
        };
    }

    private static List<String> asStringList(Object v, String key) {
        return switch (v) {
            case null -> null;
            case String[] a -> Arrays.asList(a);
            case List<?> l -> l.stream().map(e -> e == null ? null : e.toString()).toList();
            case Object[] a -> Arrays.stream(a).map(e -> e == null ? null : e.toString()).toList();
            default -> throw new IllegalArgumentException(
                    key + " must be an array of strings, was " + v.getClass().getSimpleName());
        };
    }

    private static float[] asFloatArray(Object v, String key) {
        switch (v) {
            case null -> {
                return null;
            }
            case float[] a -> {
                return a.clone();
            }
            case double[] a -> {
                float[] r = new float[a.length];
                for (int i = 0; i < a.length; i++) r[i] = (float) a[i];
                return r;
            }
            case int[] a -> {
                float[] r = new float[a.length];
                for (int i = 0; i < a.length; i++) r[i] = a[i];
                return r;
            }
            case long[] a -> {
                float[] r = new float[a.length];
                for (int i = 0; i < a.length; i++) r[i] = a[i];
                return r;
            }
            case List<?> l -> {
                float[] r = new float[l.size()];
                for (int i = 0; i < r.length; i++) r[i] = ((Number) l.get(i)).floatValue();
                return r;
            }
            default -> throw new IllegalArgumentException(
                    key + " must be an array of numbers, was " + v.getClass().getSimpleName());
        }
    }

    private static int[] asIntArray(Object v, String key) {
        switch (v) {
            case null -> {
                return null;
            }
            case int[] a -> {
                return a.clone();
            }
            case long[] a -> {
                int[] r = new int[a.length];
                for (int i = 0; i < a.length; i++) r[i] = Math.toIntExact(a[i]);
                return r;
            }
            case byte[] a -> {
                int[] r = new int[a.length];
                for (int i = 0; i < a.length; i++) r[i] = a[i];
                return r;
            }
            case short[] a -> {
                int[] r = new int[a.length];
                for (int i = 0; i < a.length; i++) r[i] = a[i];
                return r;
            }
            case List<?> l -> {
                int[] r = new int[l.size()];
                for (int i = 0; i < r.length; i++) r[i] = ((Number) l.get(i)).intValue();
                return r;
            }
            default -> throw new IllegalArgumentException(
                    key + " must be an array of integers, was " + v.getClass().getSimpleName());
        }
    }
}
