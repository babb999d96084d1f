package io.tandem.engine.scheduler;

/**
 * A snapshot of the engine's load, safe to read from any thread.
 *
 * @param running          sequences in the running batch (including those waiting for migrated KV)
 * @param waiting          requests queued for admission
 * @param kvBlocksTotal    blocks in the arena
 * @param kvBlocksUsed     blocks held by sequences and held caches
 * @param heldCaches       prefill sessions held for migration
 * @param promptTokens     prompt tokens computed since start (recomputation after preemption included)
 * @param generatedTokens  tokens generated since start
 * @param preemptions      sequences preempted since start
 * @param steps            engine steps run since start
 * @param requestsFinished requests that ended since start
 */
public record EngineStats(int running, int waiting, int kvBlocksTotal, int kvBlocksUsed, int heldCaches,
                          long promptTokens, long generatedTokens, long preemptions, long steps,
                          long requestsFinished) {
    public double kvUsage() {
        return kvBlocksTotal == 0 ? 0 : kvBlocksUsed / (double) kvBlocksTotal;
    }
}
