package io.tandem.engine.scheduler;

import io.tandem.engine.sampling.FinishReason;

/**
 * How a generation ended.
 *
 * @param outputTokens  every generated token, including a final end-of-generation token
 * @param text          the output text, without a matched stop string
 * @param finishReason  STOP, LENGTH or ABORT (an error also ends as ABORT, with {@link #error()} set)
 * @param stopReason    the stop string or stop token id that matched, or null
 * @param promptTokens  prompt length
 * @param preemptions   times the sequence was preempted and recomputed
 * @param error         what failed, or null
 * @param firstTokenNanos  time from submit to the first token, or -1
 * @param totalNanos    time from submit to finish
 */
public record GenerationResult(String requestId, int[] outputTokens, String text, FinishReason finishReason,
                               Object stopReason, int promptTokens, int preemptions, Throwable error,
                               long firstTokenNanos, long totalNanos) {
}
