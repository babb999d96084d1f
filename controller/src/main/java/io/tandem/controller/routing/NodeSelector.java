package io.tandem.controller.routing;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Set;

import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeSnapshot;

/**
 * Filters the pool for one choice (model, role, routable now, not excluded) and hands the survivors to a strategy.
 * Tells apart "nobody serves this model" ({@link UnknownModelException}, 404) from "they exist but none can take it
 * now" ({@link NoHealthyNodeException}, 503). Stateless; thread-safe.
 */
public final class NodeSelector {
    private NodeSelector() {}

    /** The nodes of {@code role} serving {@code model} that are routable at {@code now} and not in {@code exclude}. */
    public static List<NodeSnapshot> candidates(Collection<NodeSnapshot> nodes, String model, EngineRole role,
                                                Set<String> exclude, Instant now) {
        return nodes.stream()
                .filter(n -> n.role() == role && n.serves(model) && n.isRoutable(now) && !exclude.contains(n.url()))
                .toList();
    }

    /** Picks one node of {@code role} for {@code context}, or throws the typed failure that says why none. */
    public static NodeSnapshot select(Collection<NodeSnapshot> nodes, EngineRole role, RoutingContext context,
                                      RoutingStrategy strategy, Set<String> exclude, Instant now) {
        List<NodeSnapshot> candidates = candidates(nodes, context.model(), role, exclude, now);
        if (candidates.isEmpty()) {
            boolean anyServes = nodes.stream().anyMatch(n -> n.serves(context.model()));
            if (!anyServes) {
                throw new UnknownModelException("model '" + context.model() + "' is not served by any node");
            }
            long ofRole = nodes.stream().filter(n -> n.serves(context.model()) && n.role() == role).count();
            throw new NoHealthyNodeException("no " + role.displayName().toLowerCase(java.util.Locale.ROOT)
                    + " node available for model '" + context.model() + "' (" + ofRole + " in the pool, "
                    + (ofRole == 0 ? "none of that role" : "none routable now: unhealthy, circuit open, draining, asleep or already tried")
                    + ")");
        }
        return strategy.select(candidates, context).orElseThrow();
    }
}
