package io.tandem.controller.grpc;

import java.time.Duration;
import java.util.List;

/** An order the controller sends to an agent down its control stream (the domain side of {@code AgentCommand}). */
public sealed interface NodeCommand {
    /** Finish running requests, accept no new ones; abort what still runs after {@code deadline} (zero = never). */
    record Drain(Duration deadline) implements NodeCommand {}

    /** End a drain: accept new requests again (and drop the drain's pending deadline abort). */
    record Undrain() implements NodeCommand {}

    /** LMDeploy's /sleep: level 1 releases weights, level 2 weights and KV cache. */
    record Sleep(int level) implements NodeCommand {
        public Sleep {
            if (level != 1 && level != 2) {
                throw new IllegalArgumentException("level: " + level + " (expected: 1 or 2)");
            }
        }
    }

    /** LMDeploy's /wakeup; empty tags = everything. */
    record WakeUp(List<String> tags) implements NodeCommand {
        public WakeUp {
            tags = List.copyOf(tags);
        }
    }

    /** New weights (version label) are about to be pushed with /update_weights. */
    record UpdateWeightsNotice(String version) implements NodeCommand {}

    /** Abort one request (its client went away). */
    record AbortSession(long sessionId) implements NodeCommand {}

    /** Free the KV blocks held for a session whose decode never came (prefill agents). */
    record FreeCache(long sessionId) implements NodeCommand {}
}
