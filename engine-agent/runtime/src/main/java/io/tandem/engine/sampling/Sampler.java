package io.tandem.engine.sampling;

import io.tandem.engine.errors.InvalidSamplingParamsException;
import io.tandem.engine.errors.NoAllowedTokenException;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;

/**
 * Turns one request's logits into tokens: penalties, constraint mask, end-of-generation suppression,
 * temperature, min_p / top_k / top_p filtering and the random draw, plus raw logprobs.
 *
 * <h2>Pipeline (vLLM's order)</h2>
 * <ol>
 *   <li>The logits row is copied into a reused scratch buffer; the caller's array is never modified.</li>
 *   <li>Repetition penalty over prompt and output tokens (positive logits divided, others multiplied), then
 *       {@code logit -= frequency_penalty * count + presence_penalty} over output tokens.</li>
 *   <li>The {@link LogitsMask}, if any.</li>
 *   <li>End-of-generation ids are set to {@code -inf} when {@code eosAllowed} is false; {@code stop_token_ids}
 *       are set to {@code -inf} while fewer than {@code min_tokens} tokens were accepted (vLLM applies
 *       {@code min_tokens} to both).</li>
 *   <li>Temperature 0: the exact argmax of the processed logits, ties to the lowest id; no randomness is
 *       consumed. Otherwise probabilities {@code softmax(logits / T)}, then min_p (relative to the most likely
 *       token), top_k, then top_p over what remains, renormalized; exactly one {@code nextDouble()} is drawn per
 *       step, so the random stream position depends only on the step count.</li>
 * </ol>
 *
 * <h2>Logprobs</h2>
 * Reported logprobs are {@code log_softmax} of the <em>raw</em> logits as the model produced them (vLLM's
 * default), so they are independent of the sampling knobs and of the mask. They are computed only when
 * {@link SamplingParams#logprobs()} is non-null.
 *
 * <h2>Cost</h2>
 * Each step reads the vocabulary a few times (copy, max, one {@code exp} pass when sampling without top_k);
 * the max and {@code exp} passes are vectorized ({@link LogitsKernels}). top_k uses a bounded heap with a
 * cheap float pre-check rather than a sort; top_p without top_k first selects the best 64 candidates and
 * widens the selection (×8) only while their mass is short of top_p. Buffers are reused: a step allocates only
 * the returned records. State is O(vocab) floats plus, only when a penalty is active, O(vocab) counters.
 *
 * <h2>Penalty state</h2>
 * {@link #sample} does not record the token it returns: the engine calls {@link #accept(int)} for every token
 * that actually joins the output, whether sampled here or forced (for example the first token computed by a
 * prefill engine). That keeps penalties and {@code min_tokens} correct under speculative decoding or
 * disaggregated prefill.
 *
 * <h2>Thread safety</h2>
 * Not thread-safe: one Sampler per request, used by one thread at a time (the engine's step loop).
 */
public final class Sampler {
    private static final TopLogprob[] NO_TOP = new TopLogprob[0];
    /** First selection width for top_p without top_k; typical LLM distributions reach p = 0.9 within it. */
    private static final int TOP_P_INITIAL_WIDTH = 64;
    private static final int TOP_P_WIDEN_FACTOR = 8;

    private final SamplingParams params;
    private final int vocabSize;
    private final int[] endOfGenerationIds;
    private final int[] stopTokenIds;
    private final long seed;
    private final RandomGenerator random;

    /** Repetition penalty: membership of prompt ∪ output, and the members as a list to iterate cheaply. */
    private final boolean[] seen;
    private int[] seenList;
    private int seenCount;
    /** Presence/frequency penalties: occurrence counts of output tokens, and the distinct ones as a list. */
    private final int[] outputCounts;
    private int[] outputDistinct;
    private int outputDistinctCount;
    private int generated;

    private final float[] work;
    private final TopSelector selector = new TopSelector();
    private double[] weights = new double[TOP_P_INITIAL_WIDTH];
    private final double[] blockSums;

    /**
     * @param params             validated sampling parameters
     * @param vocabSize          number of logits per row
     * @param promptTokens       the prompt, for the repetition penalty (may be empty; not retained)
     * @param endOfGenerationIds the model's end-of-generation ids, suppressed when {@code eosAllowed} is false
     * @throws InvalidSamplingParamsException when a {@code stop_token_ids} entry is outside the vocabulary
     * @throws IllegalArgumentException       when a prompt or end-of-generation id is outside the vocabulary
     */
    public Sampler(SamplingParams params, int vocabSize, int[] promptTokens, int[] endOfGenerationIds) {
        this.params = Objects.requireNonNull(params, "params");
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(endOfGenerationIds, "endOfGenerationIds");
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize: " + vocabSize + " (expected: > 0)");
        }
        this.vocabSize = vocabSize;
        for (int i = 0; i < endOfGenerationIds.length; i++) {
            checkToken("endOfGenerationIds[" + i + "]", endOfGenerationIds[i]);
        }
        this.endOfGenerationIds = endOfGenerationIds.clone();
        this.stopTokenIds = params.stopTokenIds().stream().mapToInt(Integer::intValue).sorted().toArray();
        for (int id : stopTokenIds) {
            if (id >= vocabSize) {
                throw new InvalidSamplingParamsException("stop_token_ids",
                        "stop_token_ids: contains " + id + " (expected: token ids < vocabulary size " + vocabSize
                                + ")");
            }
        }
        for (int i = 0; i < promptTokens.length; i++) {
            checkToken("promptTokens[" + i + "]", promptTokens[i]);
        }

        this.seed = params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong();
        this.random = new Xoshiro256PlusPlus(seed);

        if (params.repetitionPenalty() != 1) {
            seen = new boolean[vocabSize];
            seenList = new int[Math.max(16, Math.min(promptTokens.length, vocabSize))];
            for (int t : promptTokens) {
                markSeen(t);
            }
        } else {
            seen = null;
        }
        if (params.presencePenalty() != 0 || params.frequencyPenalty() != 0) {
            outputCounts = new int[vocabSize];
            outputDistinct = new int[16];
        } else {
            outputCounts = null;
        }
        work = new float[vocabSize];
        blockSums = new double[LogitsKernels.blockCount(vocabSize)];
    }

    public SamplingParams params() {
        return params;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** The seed in use: {@link SamplingParams#seed()} or the one drawn for it; log it to replay a request. */
    public long seed() {
        return seed;
    }

    /** Tokens accepted so far (the output length). */
    public int generatedTokens() {
        return generated;
    }

    /**
     * Whether end-of-generation tokens may be sampled at the next step: not with {@code ignore_eos}, and not
     * before {@code min_tokens} tokens were accepted.
     */
    public boolean eosAllowed() {
        return !params.ignoreEos() && generated >= params.minNewTokens();
    }

    /** {@link #sample(float[], int, LogitsMask, boolean)} with {@code eosAllowed} from {@link #eosAllowed()}. */
    public SampledToken sample(float[] logits, int offset, LogitsMask maskOrNull) {
        return sample(logits, offset, maskOrNull, eosAllowed());
    }

    /**
     * Chooses the next token. Does not record it; call {@link #accept(int)} once it joins the output.
     *
     * @param logits     holds token {@code t}'s logit at {@code logits[offset + t]}; not modified
     * @param offset     index of token 0's logit
     * @param maskOrNull constraint applied after penalties, or null
     * @param eosAllowed false to suppress the end-of-generation ids given at construction
     * @throws NoAllowedTokenException when every token is {@code -inf}/NaN after processing
     */
    public SampledToken sample(float[] logits, int offset, LogitsMask maskOrNull, boolean eosAllowed) {
        Objects.requireNonNull(logits, "logits");
        Objects.checkFromIndexSize(offset, vocabSize, logits.length);
        float[] w = work;
        System.arraycopy(logits, offset, w, 0, vocabSize);
        applyPenalties(w);
        if (maskOrNull != null) {
            maskOrNull.apply(w, 0, vocabSize);
        }
        if (!eosAllowed) {
            for (int id : endOfGenerationIds) {
                w[id] = Float.NEGATIVE_INFINITY;
            }
        }
        if (generated < params.minNewTokens()) {
            for (int id : stopTokenIds) {
                w[id] = Float.NEGATIVE_INFINITY;
            }
        }
        int token = params.isGreedy() ? argmax(w) : sampleRandom(w);
        if (params.logprobs() == null) {
            return new SampledToken(token, Float.NaN, NO_TOP);
        }
        return withLogprobs(token, logits, offset, params.logprobs());
    }

    /**
     * Records a token that joined the output (sampled or forced): updates penalty counts and the
     * {@code min_tokens} progress.
     *
     * @throws IllegalArgumentException when the token is outside the vocabulary
     */
    public void accept(int token) {
        checkToken("token", token);
        generated++;
        if (seen != null) {
            markSeen(token);
        }
        if (outputCounts != null && outputCounts[token]++ == 0) {
            if (outputDistinctCount == outputDistinct.length) {
                outputDistinct = Arrays.copyOf(outputDistinct, outputDistinctCount * 2);
            }
            outputDistinct[outputDistinctCount++] = token;
        }
    }

    private void markSeen(int token) {
        if (!seen[token]) {
            seen[token] = true;
            if (seenCount == seenList.length) {
                seenList = Arrays.copyOf(seenList, seenCount * 2);
            }
            seenList[seenCount++] = token;
        }
    }

    private void applyPenalties(float[] w) {
        if (seen != null) {
            float p = (float) params.repetitionPenalty();
            for (int i = 0; i < seenCount; i++) {
                int t = seenList[i];
                float v = w[t];
                // HF/vLLM: dividing a negative logit would raise it, so negatives are multiplied instead.
                w[t] = v > 0 ? v / p : v * p;
            }
        }
        if (outputCounts != null) {
            double freq = params.frequencyPenalty();
            double presence = params.presencePenalty();
            for (int i = 0; i < outputDistinctCount; i++) {
                int t = outputDistinct[i];
                w[t] = (float) (w[t] - (freq * outputCounts[t] + presence));
            }
        }
    }

    /** Exact argmax; strict {@code >} keeps the lowest id on ties and skips NaN and {@code -inf}. */
    private int argmax(float[] w) {
        int best = -1;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocabSize; i++) {
            float v = w[i];
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        if (best < 0) {
            throw noAllowedToken();
        }
        return best;
    }

    private int sampleRandom(float[] w) {
        // Drawn first and unconditionally: one draw per step whatever the filters leave.
        double u = random.nextDouble();
        float max = LogitsKernels.max(w, 0, vocabSize);
        if (max == Float.NEGATIVE_INFINITY) {
            throw noAllowedToken();
        }
        double temperature = params.temperature();
        double invT = 1.0 / temperature;
        // min_p as a logit floor: p_i >= min_p * p_max  <=>  (l_i - l_max) / T >= ln(min_p). -inf when off.
        float floor = params.minP() > 0
                ? (float) (max + temperature * Math.log(params.minP()))
                : Float.NEGATIVE_INFINITY;

        if (params.topKEnabled()) {
            selector.reset(params.topK(), vocabSize);
            for (int i = 0; i < vocabSize; i++) {
                float v = w[i];
                if (v > Float.NEGATIVE_INFINITY && v >= floor) {
                    selector.offer(v, i);
                }
            }
            int m = selector.finishDescending();
            double mass = fillWeights(m, max, invT);
            return drawFromPrefix(u, topPCut(m, params.topP() * mass));
        }
        if (params.topP() < 1) {
            return sampleTopP(w, u, max, invT, floor);
        }
        return sampleFull(w, u, max, invT, floor);
    }

    /** No top_k/top_p: weights written over the scratch copy, then one cumulative walk; no selection at all. */
    private int sampleFull(float[] w, double u, float max, double invT, float floor) {
        double mass = LogitsKernels.expWeights(w, vocabSize, max, (float) invT, floor, blockSums);
        int token = LogitsKernels.drawIndex(w, vocabSize, blockSums, u * mass);
        if (token < 0) {
            throw noAllowedToken(); // only when a +inf logit turned every weight into NaN
        }
        return token;
    }

    /** top_p without top_k: total mass first, then the best candidates, widened until they reach top_p. */
    private int sampleTopP(float[] w, double u, float max, double invT, float floor) {
        double mass = LogitsKernels.sumExp(w, 0, vocabSize, max, (float) invT, floor);
        int candidates = 0;
        for (int i = 0; i < vocabSize; i++) {
            float v = w[i];
            if (v > Float.NEGATIVE_INFINITY && v >= floor) {
                candidates++;
            }
        }
        double target = params.topP() * mass;
        int width = Math.min(candidates, TOP_P_INITIAL_WIDTH);
        while (true) {
            selector.reset(width, candidates);
            for (int i = 0; i < vocabSize; i++) {
                float v = w[i];
                if (v > Float.NEGATIVE_INFINITY && v >= floor) {
                    selector.offer(v, i);
                }
            }
            int m = selector.finishDescending();
            fillWeights(m, max, invT);
            int cut = topPCut(m, target);
            if (cut < m || m == candidates) {
                return drawFromPrefix(u, cut);
            }
            // The best m candidates hold less than top_p of the mass (or exactly reach it at the last one):
            // widen and select again. Rare for real logits; bounded by log8(vocab) rounds.
            width = (int) Math.min(candidates, (long) width * TOP_P_WIDEN_FACTOR);
        }
    }

    /** Fills {@code weights[0..m)} with unnormalized probabilities of the selected keys; returns their sum. */
    private double fillWeights(int m, float max, double invT) {
        if (weights.length < m) {
            weights = new double[Math.max(m, weights.length * 2)];
        }
        double sum = 0;
        for (int j = 0; j < m; j++) {
            double weight = Math.exp((TopSelector.logit(selector.get(j)) - (double) max) * invT);
            weights[j] = weight;
            sum += weight;
        }
        return sum;
    }

    /**
     * Length of the smallest prefix of the (descending) weights whose mass reaches {@code target}; {@code m} if
     * none does. Equivalent to vLLM's rule of dropping tokens whose ascending cumulative mass is
     * {@code <= 1 - top_p}: a token is kept iff the mass strictly before it is below top_p.
     */
    private int topPCut(int m, double target) {
        if (params.topP() >= 1) {
            return m;
        }
        double cumulative = 0;
        for (int j = 0; j < m; j++) {
            cumulative += weights[j];
            if (cumulative >= target) {
                return j + 1;
            }
        }
        return m;
    }

    private int drawFromPrefix(double u, int cut) {
        double mass = 0;
        for (int j = 0; j < cut; j++) {
            mass += weights[j];
        }
        double target = u * mass;
        double cumulative = 0;
        for (int j = 0; j < cut; j++) {
            cumulative += weights[j];
            if (cumulative > target) {
                return TopSelector.token(selector.get(j));
            }
        }
        return TopSelector.token(selector.get(cut - 1));
    }

    private SampledToken withLogprobs(int token, float[] logits, int offset, int topCount) {
        float max = LogitsKernels.max(logits, offset, vocabSize);
        double sum = LogitsKernels.sumExp(logits, offset, vocabSize, max, 1f, Float.NEGATIVE_INFINITY);
        double logSumExp = max + Math.log(sum);
        float chosen = (float) (logits[offset + token] - logSumExp);
        if (topCount == 0) {
            return new SampledToken(token, chosen, NO_TOP);
        }
        selector.reset(topCount, vocabSize);
        for (int i = 0; i < vocabSize; i++) {
            float v = logits[offset + i];
            if (!Float.isNaN(v)) {
                selector.offer(v, i);
            }
        }
        int m = selector.finishDescending();
        TopLogprob[] top = new TopLogprob[m];
        for (int j = 0; j < m; j++) {
            long key = selector.get(j);
            top[j] = new TopLogprob(TopSelector.token(key), (float) (TopSelector.logit(key) - logSumExp));
        }
        return new SampledToken(token, chosen, top);
    }

    private NoAllowedTokenException noAllowedToken() {
        return new NoAllowedTokenException("no token can be sampled: all " + vocabSize
                + " logits are -inf or NaN after penalties, mask and end-of-generation suppression (step "
                + generated + ")");
    }

    private void checkToken(String what, int token) {
        if (token < 0 || token >= vocabSize) {
            throw new IllegalArgumentException(
                    what + ": " + token + " (expected: 0 <= token < vocabSize = " + vocabSize + ")");
        }
    }
}
