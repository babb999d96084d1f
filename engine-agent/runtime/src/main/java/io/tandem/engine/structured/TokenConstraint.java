package io.tandem.engine.structured;

import io.tandem.engine.sampling.LogitsMask;

/**
 * A stateful constraint on one request's output: as a {@link LogitsMask} it forbids the tokens that cannot
 * continue a valid output; the engine tells it of every token that joins the output through {@link #accept} and
 * finishes the request with {@code STOP} as soon as {@link #isComplete()} holds.
 *
 * <p>One instance per request. The engine calls it on its loop thread only, so implementations need no
 * synchronization of their own.
 */
public interface TokenConstraint extends LogitsMask {

    /**
     * Advances the constraint over a token that joined the output (sampled or forced).
     *
     * @throws IllegalArgumentException when the token cannot continue a valid output (a forced token the mask
     *     would have forbidden); the engine then aborts the request
     */
    void accept(int token);

    /** Whether a whole value has been produced and nothing may follow it. */
    boolean isComplete();
}
