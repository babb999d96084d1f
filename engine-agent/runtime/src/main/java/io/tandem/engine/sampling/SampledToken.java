package io.tandem.engine.sampling;

/**
 * The outcome of one {@link Sampler#sample} call.
 *
 * <p>Logprobs describe the raw model distribution ({@code log_softmax} of the logits as the model produced
 * them, before penalties, mask, temperature and filtering), which is vLLM's default ({@code raw_logprobs}) and
 * what OpenAI clients expect: a token's logprob does not change with the sampling knobs. They are only
 * computed when the request asked for logprobs, because they cost a pass of {@code exp} over the vocabulary.
 *
 * @param token   chosen token id
 * @param logprob its raw log-probability, or {@link Float#NaN} when logprobs were not requested
 * @param top     the {@code logprobs} most likely tokens of the raw distribution, most likely first (ties:
 *                lower id first); empty when logprobs were not requested or {@code logprobs == 0}. The chosen
 *                token appears here only if it is among them. Owned by the caller.
 */
public record SampledToken(int token, float logprob, TopLogprob[] top) {
    /** True when {@link #logprob()} holds a value, that is, the request asked for logprobs. */
    public boolean hasLogprobs() {
        return !Float.isNaN(logprob);
    }
}
