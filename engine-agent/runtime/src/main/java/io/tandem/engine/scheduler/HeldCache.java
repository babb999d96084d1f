package io.tandem.engine.scheduler;

import io.tandem.engine.kvcache.KvLayout;
import java.time.Instant;

/**
 * A finished prefill whose KV blocks stay allocated for another engine to read.
 *
 * @param sessionId    the request id of the prefill
 * @param blockIds     the blocks, in position order
 * @param numTokens    positions written (the prompt length)
 * @param firstToken   the token sampled after the prompt
 * @param layout       how the blocks are laid out
 * @param expiresAt    when the engine frees them unless released earlier
 */
public record HeldCache(String sessionId, int[] blockIds, int numTokens, int firstToken, KvLayout layout,
                        Instant expiresAt) {
    public HeldCache {
        blockIds = blockIds.clone();
    }

    @Override
    public int[] blockIds() {
        return blockIds.clone();
    }
}
