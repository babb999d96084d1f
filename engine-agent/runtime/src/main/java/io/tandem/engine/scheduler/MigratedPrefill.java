package io.tandem.engine.scheduler;

import java.util.concurrent.CompletableFuture;

/**
 * The decode half of a migration: the prompt's KV was computed by another engine, and the first token was
 * sampled there. The engine allocates blocks for the prompt and asks {@link #filler()} to write the remote
 * blocks into them; once that completes, the sequence continues from {@link #firstToken()} without a prefill.
 *
 * @param firstToken the token the other engine sampled after the prompt; emitted as this sequence's first output
 * @param filler     writes the prompt's KV into the given local blocks (in position order)
 */
public record MigratedPrefill(int firstToken, BlockFiller filler) {

    /** Writes KV data into freshly allocated local blocks; must not touch them after its future completes. */
    @FunctionalInterface
    public interface BlockFiller {
        CompletableFuture<Void> fill(int[] localBlockIds);
    }
}
