package io.tandem.controller.routing;

import static io.tandem.controller.testing.Nodes.node;
import static io.tandem.controller.testing.Nodes.unhealthy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;

import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeSnapshot;

class NodeSelectorTest {
    private final RoutingStrategy strategy = Strategies.random(new Random(1));
    private final Instant now = Instant.EPOCH;

    @Test
    void filtersByRoleHealthAndExclusion() {
        var p1 = node("http://p1:1", EngineRole.PREFILL);
        var p2 = unhealthy(node("http://p2:1", EngineRole.PREFILL));
        var p3 = node("http://p3:1", EngineRole.PREFILL);
        var d = node("http://d:1", EngineRole.DECODE);
        List<NodeSnapshot> all = List.of(p1, p2, p3, d);
        assertThat(NodeSelector.candidates(all, "m", EngineRole.PREFILL, Set.of("http://p3:1"), now)).containsExactly(p1);
        assertThat(NodeSelector.select(all, EngineRole.DECODE, new RoutingContext("m", ""), strategy, Set.of(), now))
                .isEqualTo(d);
    }

    @Test
    void unknownModel_isTellsApartFromNoHealthyNode() {
        List<NodeSnapshot> all = List.of(unhealthy(node("http://p:1", EngineRole.PREFILL)));
        assertThatThrownBy(() -> NodeSelector.select(all, EngineRole.PREFILL, new RoutingContext("x", ""), strategy, Set.of(), now))
                .isInstanceOf(UnknownModelException.class).hasMessageContaining("'x'");
        assertThatThrownBy(() -> NodeSelector.select(all, EngineRole.PREFILL, new RoutingContext("m", ""), strategy, Set.of(), now))
                .isInstanceOf(NoHealthyNodeException.class).hasMessageContaining("1 in the pool");
        assertThatThrownBy(() -> NodeSelector.select(all, EngineRole.DECODE, new RoutingContext("m", ""), strategy, Set.of(), now))
                .isInstanceOf(NoHealthyNodeException.class).hasMessageContaining("none of that role");
    }
}
