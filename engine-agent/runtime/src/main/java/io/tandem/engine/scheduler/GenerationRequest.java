package io.tandem.engine.scheduler;

import io.tandem.engine.sampling.LogitsMask;
import io.tandem.engine.sampling.SamplingParams;

/**
 * One generation asked of the engine.
 *
 * @param requestId   unique among live requests; aborts and held caches are addressed by it
 * @param prompt      prompt token ids (BOS included when the model wants one)
 * @param params      sampling and stopping parameters
 * @param keepCache   hold the sequence's KV blocks after it finishes, for another engine to pull
 *                    ({@link Engine#heldCache(String)}), until released or the lease runs out
 * @param mask        constrained-decoding mask applied before every sample, or null
 * @param migration   start from KV blocks computed elsewhere instead of prefilling, or null
 */
public record GenerationRequest(String requestId, int[] prompt, SamplingParams params,
                                boolean keepCache, LogitsMask mask, MigratedPrefill migration) {

    public GenerationRequest {
        if (requestId == null || requestId.isEmpty()) {
            throw new IllegalArgumentException("requestId: empty (expected: a unique id)");
        }
        if (prompt == null || prompt.length == 0) {
            throw new IllegalArgumentException("prompt: empty (expected: at least one token)");
        }
        if (params == null) {
            throw new IllegalArgumentException("params: null");
        }
        prompt = prompt.clone();
    }

    public static GenerationRequest of(String id, int[] prompt, SamplingParams params) {
        return new GenerationRequest(id, prompt, params, false, null, null);
    }

    public GenerationRequest withKeepCache(boolean keep) {
        return new GenerationRequest(requestId, prompt, params, keep, mask, migration);
    }

    public GenerationRequest withMask(LogitsMask m) {
        return new GenerationRequest(requestId, prompt, params, keepCache, m, migration);
    }

    public GenerationRequest withMigration(MigratedPrefill m) {
        return new GenerationRequest(requestId, prompt, params, keepCache, mask, m);
    }
}
