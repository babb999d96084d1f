package io.tandem.controller.routing;

import java.util.List;
import java.util.Optional;

import io.tandem.controller.registry.NodeSnapshot;

/**
 * Picks one node among candidates that already passed the filters (model, role, health, circuit, exclusions).
 * Implementations are pure functions of their inputs and their injected {@link java.util.Random}, so a seeded
 * strategy is reproducible in tests. Thread-safe.
 */
public interface RoutingStrategy {
    /** The wire name, e.g. "min_expected_latency". */
    String name();

    /** The chosen node, or empty when {@code candidates} is empty. */
    Optional<NodeSnapshot> select(List<NodeSnapshot> candidates, RoutingContext context);
}
