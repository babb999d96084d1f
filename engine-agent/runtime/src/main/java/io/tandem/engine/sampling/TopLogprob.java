package io.tandem.engine.sampling;

/**
 * One of the most likely tokens at a step, with its log-probability under the raw model distribution.
 *
 * @param token   token id
 * @param logprob natural-log probability, {@code <= 0}
 */
public record TopLogprob(int token, float logprob) {
}
