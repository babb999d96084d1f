package io.tandem.engine.scheduler;

import io.tandem.engine.sampling.TopLogprob;

/**
 * One generated token as it is streamed.
 *
 * @param tokenId   the token
 * @param text      text that became final with this token (may be empty while a multi-byte character or a
 *                  possible stop string is incomplete)
 * @param logprob   log-probability of the token, or NaN when not computed here (a migrated first token)
 * @param top       the most likely alternatives when logprobs were asked for, else null
 */
public record TokenOutput(int tokenId, String text, float logprob, TopLogprob[] top) {
}
