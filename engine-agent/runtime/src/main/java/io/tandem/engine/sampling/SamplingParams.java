package io.tandem.engine.sampling;

import io.tandem.engine.errors.InvalidSamplingParamsException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * How one request turns logits into tokens and when it stops: the OpenAI/vLLM sampling parameters, validated.
 *
 * <p>Construction validates every field and throws {@link InvalidSamplingParamsException} naming the offending
 * parameter by its wire name ({@code top_p}, {@code min_tokens}, ...) with a message of the form
 * {@code "top_p: 1.5 (expected: 0 < top_p <= 1)"}. A constructed instance is therefore always usable, and the
 * {@link Sampler} does not re-check it. Null {@code stop}/{@code stopTokenIds} become empty, and both are copied
 * into immutable collections, so the record is deeply immutable and safe to share between threads.
 *
 * <p>Defaults ({@link #builder()}) follow vLLM's {@code SamplingParams} and the OpenAI API: temperature 1,
 * top_p 1, top_k -1 (off), min_p 0, repetition penalty 1 (off), presence/frequency penalties 0, max_tokens 16,
 * no seed, no stops, skip_special_tokens true, logprobs off.
 *
 * @param temperature       0 selects greedy decoding (exact argmax); otherwise logits are divided by it.
 *                          0..100; the upper bound only catches garbage, anything above ~5 is noise already.
 * @param topK              keep only the k most likely tokens; any value {@code <= 0} (conventionally -1)
 *                          disables the filter
 * @param topP              nucleus sampling: keep the smallest set of most likely tokens whose probability
 *                          mass reaches top_p; in (0, 1], 1 disables
 * @param minP              drop tokens whose probability is below {@code min_p * p(most likely token)};
 *                          in [0, 1], 0 disables
 * @param repetitionPenalty HF/vLLM repetition penalty over prompt and output tokens: positive logits of seen
 *                          tokens are divided by it, negative ones multiplied; {@code > 0}, 1 disables
 * @param presencePenalty   OpenAI presence penalty over output tokens: subtracted once from the logit of every
 *                          token generated at least once; in [-2, 2]
 * @param frequencyPenalty  OpenAI frequency penalty over output tokens: subtracted once per occurrence;
 *                          in [-2, 2]
 * @param seed              seed of the request's random generator, for reproducible sampling; null draws one
 * @param stop              stop strings; generation ends at the first one and it is not part of the output
 * @param stopTokenIds      extra token ids that end generation (in addition to the model's end-of-generation
 *                          tokens); they are part of the generated tokens, like vLLM
 * @param ignoreEos         keep generating past the model's end-of-generation tokens (they are suppressed)
 * @param minNewTokens      end-of-generation and stop tokens are suppressed until this many tokens were
 *                          generated; wire name {@code min_tokens}; 0..max_tokens
 * @param maxTokens         hard limit on generated tokens; {@code > 0}
 * @param logprobs          how many top alternatives to report per token (0..20); 0 still reports the chosen
 *                          token's logprob; null turns logprobs off
 * @param skipSpecialTokens leave special tokens out of the detokenized text
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Long seed,
        List<String> stop,
        Set<Integer> stopTokenIds,
        boolean ignoreEos,
        int minNewTokens,
        int maxTokens,
        Integer logprobs,
        boolean skipSpecialTokens) {

    /** Largest accepted temperature. */
    public static final double MAX_TEMPERATURE = 100.0;
    /** Largest accepted {@code logprobs} count, as in the OpenAI API. */
    public static final int MAX_LOGPROBS = 20;

    public SamplingParams {
        // NaN fails every comparison, so each check is written as !(valid) to reject it too.
        if (!(temperature >= 0 && temperature <= MAX_TEMPERATURE)) {
            throw invalid("temperature", temperature, "0 <= temperature <= " + fmt(MAX_TEMPERATURE));
        }
        if (!(topP > 0 && topP <= 1)) {
            throw invalid("top_p", topP, "0 < top_p <= 1");
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw invalid("min_p", minP, "0 <= min_p <= 1");
        }
        if (!(repetitionPenalty > 0 && Double.isFinite(repetitionPenalty))) {
            throw invalid("repetition_penalty", repetitionPenalty, "finite repetition_penalty > 0");
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw invalid("presence_penalty", presencePenalty, "-2 <= presence_penalty <= 2");
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw invalid("frequency_penalty", frequencyPenalty, "-2 <= frequency_penalty <= 2");
        }
        if (maxTokens <= 0) {
            throw invalid("max_tokens", maxTokens, "max_tokens > 0");
        }
        if (minNewTokens < 0 || minNewTokens > maxTokens) {
            throw invalid("min_tokens", minNewTokens, "0 <= min_tokens <= max_tokens = " + maxTokens);
        }
        if (logprobs != null && (logprobs < 0 || logprobs > MAX_LOGPROBS)) {
            throw invalid("logprobs", logprobs, "0 <= logprobs <= " + MAX_LOGPROBS + ", or null for none");
        }
        stop = copyStops(stop);
        stopTokenIds = copyStopTokenIds(stopTokenIds);
    }

    /** Greedy decoding (temperature 0) of at most {@code maxTokens} tokens, everything else at its default. */
    public static SamplingParams greedy(int maxTokens) {
        return builder().temperature(0).maxTokens(maxTokens).build();
    }

    /** A builder holding the vLLM/OpenAI defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this instance's values, for deriving a variant. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** True when temperature is 0: the sampler takes the argmax and consumes no randomness. */
    public boolean isGreedy() {
        return temperature == 0;
    }

    /** True when {@link #topK()} limits the candidates (any value {@code <= 0} disables it). */
    public boolean topKEnabled() {
        return topK > 0;
    }

    /** True when any of the repetition, presence or frequency penalties is active. */
    public boolean hasPenalties() {
        return repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0;
    }

    private static List<String> copyStops(List<String> stop) {
        if (stop == null || stop.isEmpty()) {
            return List.of();
        }
        // Checked element by element, before List.copyOf, so a null gets our message rather than a bare NPE.
        List<String> copy = new ArrayList<>(stop.size());
        for (int i = 0; i < stop.size(); i++) {
            String s = stop.get(i);
            if (s == null || s.isEmpty()) {
                throw new InvalidSamplingParamsException("stop",
                        "stop: element " + i + " is " + (s == null ? "null" : "empty")
                                + " (expected: non-empty strings)");
            }
            copy.add(s);
        }
        return List.copyOf(copy);
    }

    private static Set<Integer> copyStopTokenIds(Set<Integer> ids) {
        if (ids == null || ids.isEmpty()) {
            return Set.of();
        }
        Set<Integer> copy = new HashSet<>(ids.size() * 2);
        for (Integer id : ids) {
            if (id == null || id < 0) {
                throw new InvalidSamplingParamsException("stop_token_ids",
                        "stop_token_ids: contains " + id + " (expected: token ids >= 0)");
            }
            copy.add(id);
        }
        return Set.copyOf(copy);
    }

    private static InvalidSamplingParamsException invalid(String name, double value, String expected) {
        return new InvalidSamplingParamsException(name, name + ": " + fmt(value) + " (expected: " + expected + ")");
    }

    private static InvalidSamplingParamsException invalid(String name, int value, String expected) {
        return new InvalidSamplingParamsException(name, name + ": " + value + " (expected: " + expected + ")");
    }

    /** Prints 100.0 as "100" and 1.5 as "1.5", so messages echo what a client most likely sent. */
    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** Mutable builder; {@link #build()} validates. Not thread-safe. */
    public static final class Builder {
        private double temperature = 1.0;
        private int topK = -1;
        private double topP = 1.0;
        private double minP = 0.0;
        private double repetitionPenalty = 1.0;
        private double presencePenalty = 0.0;
        private double frequencyPenalty = 0.0;
        private Long seed;
        private List<String> stop = List.of();
        private Set<Integer> stopTokenIds = Set.of();
        private boolean ignoreEos;
        private int minNewTokens;
        private int maxTokens = 16;
        private Integer logprobs;
        private boolean skipSpecialTokens = true;

        private Builder() {
        }

        private Builder(SamplingParams p) {
            temperature = p.temperature;
            topK = p.topK;
            topP = p.topP;
            minP = p.minP;
            repetitionPenalty = p.repetitionPenalty;
            presencePenalty = p.presencePenalty;
            frequencyPenalty = p.frequencyPenalty;
            seed = p.seed;
            stop = p.stop;
            stopTokenIds = p.stopTokenIds;
            ignoreEos = p.ignoreEos;
            minNewTokens = p.minNewTokens;
            maxTokens = p.maxTokens;
            logprobs = p.logprobs;
            skipSpecialTokens = p.skipSpecialTokens;
        }

        public Builder temperature(double v) {
            temperature = v;
            return this;
        }

        public Builder topK(int v) {
            topK = v;
            return this;
        }

        public Builder topP(double v) {
            topP = v;
            return this;
        }

        public Builder minP(double v) {
            minP = v;
            return this;
        }

        public Builder repetitionPenalty(double v) {
            repetitionPenalty = v;
            return this;
        }

        public Builder presencePenalty(double v) {
            presencePenalty = v;
            return this;
        }

        public Builder frequencyPenalty(double v) {
            frequencyPenalty = v;
            return this;
        }

        public Builder seed(Long v) {
            seed = v;
            return this;
        }

        public Builder stop(List<String> v) {
            stop = v;
            return this;
        }

        public Builder stop(String... v) {
            // Arrays.asList tolerates null elements, so validation can report them precisely.
            stop = v == null ? null : Arrays.asList(v);
            return this;
        }

        public Builder stopTokenIds(Set<Integer> v) {
            stopTokenIds = v;
            return this;
        }

        public Builder ignoreEos(boolean v) {
            ignoreEos = v;
            return this;
        }

        public Builder minNewTokens(int v) {
            minNewTokens = v;
            return this;
        }

        public Builder maxTokens(int v) {
            maxTokens = v;
            return this;
        }

        public Builder logprobs(Integer v) {
            logprobs = v;
            return this;
        }

        public Builder skipSpecialTokens(boolean v) {
            skipSpecialTokens = v;
            return this;
        }

        /** @throws InvalidSamplingParamsException naming the first invalid parameter */
        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty,
                    frequencyPenalty, seed, stop, stopTokenIds, ignoreEos, minNewTokens, maxTokens, logprobs,
                    skipSpecialTokens);
        }
    }
}
