package io.tandem.controller.registry;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

import io.tandem.controller.health.CircuitBreaker;

/**
 * The mutable state of one node. Owned by the registry's event thread; never escapes it (readers get snapshots), except
 * its thread-safe {@link RequestCounters}, which every snapshot shares.
 */
final class NodeState {
    NodeSpec spec;
    final CircuitBreaker breaker;
    final Instant addedAt;
    /** Updated off the owner thread (see {@link RequestCounters}); shared with every snapshot. */
    final RequestCounters requests = new RequestCounters();
    Health health = Health.UNKNOWN;
    String healthReason = "";
    Instant healthChangedAt;
    Optional<NodeLoad> load = Optional.empty();
    boolean attached;
    boolean draining;
    /** 0 awake; 1 or 2: the sleep level it was put to. */
    int sleepLevel;
    /** Probe timeouts in a row. */
    int probeTimeouts;
    /** The weights version the node reported last; null until it reports one (nodes that are not ours never do). */
    String weightsVersion;
    /** The weights version the node must serve, set by a weight commit; null: no expectation. */
    String expectedWeights;

    NodeState(NodeSpec spec, CircuitBreaker breaker, Instant now) {
        this.spec = spec;
        this.breaker = breaker;
        this.addedAt = now;
        this.healthChangedAt = now;
    }

    /** Whether the node serves other weights than it must (see {@link NodeSnapshot#staleWeights()}). */
    boolean staleWeights() {
        return expectedWeights != null && weightsVersion != null && !weightsVersion.equals(expectedWeights);
    }

    /** Returns true if the node just went from not-unhealthy to unhealthy. */
    boolean setHealth(Health newHealth, String reason, Instant now) {
        boolean wentDown = newHealth == Health.UNHEALTHY && health != Health.UNHEALTHY;
        if (newHealth != health) {
            healthChangedAt = now;
        }
        health = newHealth;
        healthReason = newHealth == Health.UNHEALTHY ? reason : "";
        return wentDown;
    }

    NodeSnapshot snapshot() {
        return new NodeSnapshot(spec.url(), spec.role(), spec.models(), spec.speed(), requests, health, healthReason, load, breaker.state(), breaker.openUntil(), attached,
                draining, sleepLevel, spec.engineConfig(), spec.source(), addedAt, Optional.ofNullable(weightsVersion),
                Optional.ofNullable(expectedWeights));
    }
}
