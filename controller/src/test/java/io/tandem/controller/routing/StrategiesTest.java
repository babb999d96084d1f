package io.tandem.controller.routing;

import static io.tandem.controller.testing.Nodes.node;
import static io.tandem.controller.testing.Nodes.withLoad;
import static io.tandem.controller.testing.Nodes.withSpeed;
import static io.tandem.controller.testing.Nodes.withUnfinished;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeSnapshot;

class StrategiesTest {
    private static final RoutingContext CTX = new RoutingContext("m", "");

    @Test
    void random_isWeightedBySpeed() {
        RoutingStrategy s = Strategies.random(new Random(42));
        List<NodeSnapshot> nodes = List.of(withSpeed("http://a:1", 1), withSpeed("http://b:1", 3));
        Map<String, Integer> counts = count(s, nodes, 4000);
        assertThat(counts.get("http://b:1") / (double) counts.get("http://a:1")).isBetween(2.6, 3.4);
    }

    @Test
    void random_isReproducibleWithASeed() {
        List<NodeSnapshot> nodes = List.of(withSpeed("http://a:1", 1), withSpeed("http://b:1", 1), withSpeed("http://c:1", 1));
        assertThat(count(Strategies.random(new Random(7)), nodes, 50)).isEqualTo(count(Strategies.random(new Random(7)), nodes, 50));
    }

    @Test
    void minExpectedLatency_isUnfinishedOverSpeed() {
        RoutingStrategy s = Strategies.minExpectedLatency(new Random(1));
        // a: 4/2 = 2, b: 3/1 = 3, c (no speed -> mean speed 1.5): 2/1.5 = 1.33
        var chosen = s.select(List.of(withUnfinished("http://a:1", 2, 4), withUnfinished("http://b:1", 1, 3),
                withUnfinished("http://c:1", null, 2)), CTX);
        assertThat(chosen).get().extracting(NodeSnapshot::url).isEqualTo("http://c:1");
    }

    @Test
    void minExpectedLatency_spreadsTiesAtRandom() {
        var nodes = List.of(withUnfinished("http://a:1", 1, 0), withUnfinished("http://b:1", 1, 0));
        assertThat(count(Strategies.minExpectedLatency(new Random(3)), nodes, 200)).containsOnlyKeys("http://a:1", "http://b:1");
    }

    @Test
    void minObservedLatency_picksLowestMeanOfRecentLatencies() {
        var slow = node("http://a:1", EngineRole.HYBRID, null, 0, List.of(2.0, 2.0), null);
        var fast = node("http://b:1", EngineRole.HYBRID, null, 0, List.of(0.5, 1.5), null);
        assertThat(Strategies.minObservedLatency(new Random(1)).select(List.of(slow, fast), CTX))
                .get().extracting(NodeSnapshot::url).isEqualTo("http://b:1");
    }

    @Test
    void leastLoaded_usesQueueAndKvPressure() {
        var busyQueue = withLoad("http://a:1", 3, 2, 10, 90);
        var fullKv = withLoad("http://b:1", 0, 0, 100, 0);
        var light = withLoad("http://c:1", 2, 0, 80, 20);
        assertThat(Strategies.leastLoaded(new Random(1)).select(List.of(busyQueue, fullKv, light), CTX))
                .get().extracting(NodeSnapshot::url).isEqualTo("http://c:1");
        assertThat(Strategies.loadScore(light)).isEqualTo(2 + 4 * 0.8);
        assertThat(Strategies.loadScore(fullKv)).isGreaterThan(1000);
    }

    @Test
    void powerOfTwo_neverPicksTheMostLoadedOfThree() {
        var nodes = List.of(withLoad("http://a:1", 0, 0, 0, 10), withLoad("http://b:1", 5, 0, 0, 10),
                withLoad("http://c:1", 9, 9, 0, 10));
        Map<String, Integer> counts = count(Strategies.powerOfTwo(new Random(11)), nodes, 300);
        assertThat(counts).doesNotContainKey("http://c:1").containsKeys("http://a:1", "http://b:1");
    }

    @Test
    void everyStrategy_returnsEmptyForNoCandidates_andTheOnlyOne() {
        for (StrategyName name : StrategyName.values()) {
            RoutingStrategy s = Strategies.create(name, new Random(1));
            assertThat(s.name()).isEqualTo(name.wireName());
            assertThat(s.select(List.of(), CTX)).isEmpty();
            assertThat(s.select(List.of(withSpeed("http://a:1", 1)), CTX)).isPresent();
        }
    }

    @Test
    void strategyNames_parseWireNames() {
        assertThat(StrategyName.parse("Min-Expected-Latency")).isEqualTo(StrategyName.MIN_EXPECTED_LATENCY);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> StrategyName.parse("fastest"))
                .hasMessageContaining("strategy: 'fastest' (expected one of: random, min_expected_latency");
    }

    private static Map<String, Integer> count(RoutingStrategy s, List<NodeSnapshot> nodes, int n) {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < n; i++) {
            counts.merge(s.select(nodes, CTX).orElseThrow().url(), 1, Integer::sum);
        }
        return counts;
    }
}
