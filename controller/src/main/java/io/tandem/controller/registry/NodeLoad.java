package io.tandem.controller.registry;

import java.time.Instant;

/**
 * A node's live load, from its control stream's load reports.
 *
 * @param running         requests being computed
 * @param waiting         requests queued
 * @param kvBlocksUsed    KV blocks in use (held for migration included)
 * @param kvBlocksFree    KV blocks free
 * @param tokensPerSecond generated tokens per second over the last report interval
 * @param reportedAt      when the controller received the report
 */
public record NodeLoad(int running, int waiting, int kvBlocksUsed, int kvBlocksFree, double tokensPerSecond,
                       Instant reportedAt) {
    public NodeLoad {
        if (running < 0 || waiting < 0 || kvBlocksUsed < 0 || kvBlocksFree < 0 || tokensPerSecond < 0
                || Double.isNaN(tokensPerSecond)) {
            throw new IllegalArgumentException("load report: running=" + running + " waiting=" + waiting
                    + " kvBlocksUsed=" + kvBlocksUsed + " kvBlocksFree=" + kvBlocksFree
                    + " tokensPerSecond=" + tokensPerSecond + " (expected: all >= 0)");
        }
    }

    /** Fraction of the KV cache in use, 0..1 (0 when the node reported no blocks at all). */
    public double kvUsage() {
        int total = kvBlocksUsed + kvBlocksFree;
        return total == 0 ? 0 : (double) kvBlocksUsed / total;
    }
}
