package io.tandem.engine.sampling;

/**
 * Constrained decoding hook: forbids tokens for the next sampling step by setting their logits to
 * {@link Float#NEGATIVE_INFINITY}. Implementations (grammar/JSON-schema matchers) must only lower logits, and
 * only to {@code -inf}; anything else would distort both the distribution and penalties' meaning.
 *
 * <p>The {@link Sampler} calls it once per {@code sample} on its private copy of the logits, after penalties
 * and before temperature, so a mask never affects reported logprobs (which describe the raw model
 * distribution). Called on the sampling thread; implementations need no synchronization of their own unless
 * they share state between requests.
 */
@FunctionalInterface
public interface LogitsMask {
    /**
     * Sets the logits of every disallowed token to {@code -inf}.
     *
     * @param logits    array holding the logits of token {@code t} at {@code logits[offset + t]}
     * @param offset    index of token 0
     * @param vocabSize number of tokens
     */
    void apply(float[] logits, int offset, int vocabSize);
}
