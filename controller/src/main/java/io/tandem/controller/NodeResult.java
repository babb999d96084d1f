package io.tandem.controller;

import java.util.Optional;

/**
 * What a cluster-wide operation ({@link Controller#updateWeights}, {@link Controller#sleep},
 * {@link Controller#wakeUp}, {@link Controller#isSleeping}) did on one node.
 *
 * @param url        the node
 * @param outcome    done, failed, or not tried (a rolling update stops at the first failure)
 * @param status     the node's HTTP status (0: no HTTP answer, e.g. a command over the control stream or a refused
 *                   connection)
 * @param detail     the node's answer body when done; why, when failed or skipped
 * @param idle       weight commits only: whether the node's running requests finished within the drain timeout
 * @param inRotation whether routing may send it requests afterwards (as far as this operation is concerned: a node
 *                   an operator had drained stays drained)
 */
public record NodeResult(String url, Outcome outcome, int status, String detail, Optional<Boolean> idle,
                         boolean inRotation) {
    public enum Outcome { DONE, FAILED, SKIPPED }

    public boolean done() {
        return outcome == Outcome.DONE;
    }
}
