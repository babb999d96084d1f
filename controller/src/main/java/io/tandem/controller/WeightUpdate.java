package io.tandem.controller;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * One cluster-wide {@code /update_weights} call (see {@link Controller#updateWeights}).
 *
 * @param model        the model whose nodes are updated (empty = every node in the pool)
 * @param nodeBody     the agent's request body, LMDeploy's UpdateParamsRequest, sent as is to each node
 * @param finished     whether the body commits ({@code finished: true}): only a commit drains nodes; a staging
 *                     request goes to every node at once and changes nothing they serve
 * @param rolling      commit one node at a time (the model keeps serving on the others), or all nodes at once
 * @param drainTimeout how long a drained node's running requests may take before the update is sent anyway
 *                     (they then continue with the new weights from their next token; nothing is aborted)
 */
public record WeightUpdate(Optional<String> model, byte[] nodeBody, boolean finished, boolean rolling,
                           Duration drainTimeout) {
    public WeightUpdate {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(nodeBody, "nodeBody");
        Objects.requireNonNull(drainTimeout, "drainTimeout");
        if (drainTimeout.isNegative()) {
            throw new IllegalArgumentException("drainTimeout: " + drainTimeout + " (expected: >= 0)");
        }
    }
}
