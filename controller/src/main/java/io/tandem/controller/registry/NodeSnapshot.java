package io.tandem.controller.registry;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

import io.tandem.controller.health.CircuitState;

/**
 * An immutable view of one node at one moment, for readers (routing, /nodes/status). Produced by the registry's
 * owner thread after every event.
 *
 * @param url              node url and DistServe engine id
 * @param role             engine role
 * @param models           served model names
 * @param speed            LMDeploy's speed (null = unknown)
 * @param requests         its request counters (unfinished requests, latencies): live, shared by every snapshot
 *                         of the node, not frozen at the snapshot's moment
 * @param health           last known reachability
 * @param healthReason     why it is unhealthy ("" when healthy)
 * @param load             last load report, if it has a control stream that has reported
 * @param circuit          circuit-breaker state when the snapshot was taken
 * @param circuitOpenUntil when an OPEN circuit becomes HALF_OPEN ({@link Instant#MIN} when not open)
 * @param attached         whether a ClusterControl stream is attached now
 * @param draining         taken out of rotation by an operator (drain command)
 * @param sleepLevel       0 awake; 1 or 2: put to sleep (LMDeploy's /sleep level), out of rotation until woken
 * @param engineConfig     DistServe engine config the agent registered with, if any
 * @param source           how the node entered the pool
 * @param addedAt          when it entered the pool
 * @param weightsVersion   the weights version the node reported last (our agents report one; others never do)
 * @param expectedWeights  the weights version it must serve, set by the last weight commit (on it, or on its
 *                         models before it joined)
 */
public record NodeSnapshot(String url, EngineRole role, List<String> models, Integer speed,
                           RequestCounters requests, Health health, String healthReason, Optional<NodeLoad> load,
                           CircuitState circuit, Instant circuitOpenUntil, boolean attached, boolean draining, int sleepLevel,
                           Optional<DistServeEngineConfig> engineConfig, NodeSource source, Instant addedAt,
                           Optional<String> weightsVersion, Optional<String> expectedWeights) {

    public NodeSnapshot {
        models = List.copyOf(models);
        java.util.Objects.requireNonNull(requests, "requests");
    }

    /** LMDeploy's Status object for this node. */
    public NodeStatus status() {
        return new NodeStatus(role, models, speed, unfinished(), latencies());
    }

    /** Requests the controller routed to it that have not finished (now, not at the snapshot's moment). */
    public int unfinished() {
        return requests.unfinished();
    }

    /** The last {@value NodeStatus#LATENCY_WINDOW} request latencies, seconds, oldest first. */
    public List<Double> latencies() {
        return requests.latencies();
    }

    public boolean serves(String model) {
        return models.contains(model);
    }

    public boolean sleeping() {
        return sleepLevel > 0;
    }

    /**
     * Whether the node reports other weights than the last weight commit left it (or its models, for a node that
     * joined since): an agent that restarted, or slept at level 2, and lost the pushed weights. Out of rotation
     * until a weight update reaches it or an operator undrains it as it is.
     */
    public boolean staleWeights() {
        return expectedWeights.isPresent() && weightsVersion.isPresent()
                && !weightsVersion.get().equals(expectedWeights.get());
    }

    /**
     * Whether routing may pick this node at {@code now}: not unhealthy, not draining, not asleep, not serving stale
     * weights, and the circuit not open (an OPEN circuit whose period has passed counts as HALF_OPEN, which allows
     * a trial).
     */
    public boolean isRoutable(Instant now) {
        if (health == Health.UNHEALTHY || draining || sleepLevel > 0 || staleWeights()) {
            return false;
        }
        return circuit != CircuitState.OPEN || !now.isBefore(circuitOpenUntil);
    }

    /** Mean of the recorded latencies in seconds; 0 when none (so an unmeasured node gets tried). */
    public double meanLatencySeconds() {
        return requests.meanLatencySeconds();
    }
}
