package io.tandem.controller.testing;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

import io.tandem.controller.health.CircuitState;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.Health;
import io.tandem.controller.registry.NodeLoad;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.RequestCounters;
import io.tandem.controller.registry.NodeSource;

/** Builds node snapshots for routing tests. */
public final class Nodes {
    private Nodes() {}

    public static NodeSnapshot node(String url, EngineRole role) {
        return node(url, role, null, 0, List.of(), null);
    }

    public static NodeSnapshot node(String url, EngineRole role, Integer speed, int unfinished, List<Double> latencies,
                                    NodeLoad load) {
        return new NodeSnapshot(url, role, List.of("m"), speed, RequestCounters.of(unfinished, latencies), Health.HEALTHY, "",
                Optional.ofNullable(load), CircuitState.CLOSED, Instant.MIN, load != null, false, 0, Optional.empty(),
                NodeSource.STATIC, Instant.EPOCH, Optional.empty(), Optional.empty());
    }

    public static NodeSnapshot withSpeed(String url, int speed) {
        return node(url, EngineRole.HYBRID, speed, 0, List.of(), null);
    }

    public static NodeSnapshot withUnfinished(String url, Integer speed, int unfinished) {
        return node(url, EngineRole.HYBRID, speed, unfinished, List.of(), null);
    }

    public static NodeSnapshot withLoad(String url, int running, int waiting, int used, int free) {
        return node(url, EngineRole.HYBRID, null, 0, List.of(), new NodeLoad(running, waiting, used, free, 0, Instant.EPOCH));
    }

    public static NodeSnapshot unhealthy(NodeSnapshot n) {
        return new NodeSnapshot(n.url(), n.role(), n.models(), n.speed(), n.requests(), Health.UNHEALTHY,
                "down", n.load(), n.circuit(), n.circuitOpenUntil(), n.attached(), n.draining(), n.sleepLevel(), n.engineConfig(),
                n.source(), n.addedAt(), n.weightsVersion(), n.expectedWeights());
    }
}
