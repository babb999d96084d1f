package io.tandem.controller.routing;

import static io.tandem.controller.testing.Nodes.withLoad;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.tandem.controller.registry.NodeSnapshot;

class PrefixAwareStrategyTest {
    private static final String SYSTEM = "You are a helpful assistant. ".repeat(20); // 580 chars

    private final List<NodeSnapshot> nodes = List.of(withLoad("http://a:1", 0, 0, 0, 10),
            withLoad("http://b:1", 0, 0, 0, 10), withLoad("http://c:1", 0, 0, 0, 10));

    private PrefixAwareStrategy strategy(int capacity) {
        return new PrefixAwareStrategy(Strategies.random(new Random(5)),
                new PrefixAwareStrategy.Settings(64, 32, capacity, 8.0));
    }

    @Test
    void promptSharingAPrefix_goesBackToTheNodeThatServedIt() {
        PrefixAwareStrategy s = strategy(1000);
        String first = s.select(nodes, new RoutingContext("m", SYSTEM + "What is 2+2?")).orElseThrow().url();
        for (int i = 0; i < 20; i++) {
            assertThat(s.select(nodes, new RoutingContext("m", SYSTEM + "Question " + i)).orElseThrow().url())
                    .isEqualTo(first);
        }
    }

    @Test
    void otherModel_hasNoAffinity() {
        PrefixAwareStrategy s = strategy(1000);
        s.select(nodes, new RoutingContext("m", SYSTEM));
        int before = s.size();
        s.select(nodes, new RoutingContext("other", SYSTEM));
        assertThat(s.size()).isEqualTo(before * 2);
    }

    @Test
    void overloadedOwner_losesAffinity() {
        PrefixAwareStrategy s = strategy(1000);
        String owner = s.select(nodes, new RoutingContext("m", SYSTEM)).orElseThrow().url();
        List<NodeSnapshot> ownerBusy = nodes.stream()
                .map(n -> n.url().equals(owner) ? withLoad(owner, 10, 5, 0, 10) : n).toList();
        assertThat(s.select(ownerBusy, new RoutingContext("m", SYSTEM)).orElseThrow().url()).isNotEqualTo(owner);
    }

    @Test
    void ownerNoLongerCandidate_fallsBack() {
        PrefixAwareStrategy s = strategy(1000);
        String owner = s.select(nodes, new RoutingContext("m", SYSTEM)).orElseThrow().url();
        List<NodeSnapshot> without = nodes.stream().filter(n -> !n.url().equals(owner)).toList();
        assertThat(s.select(without, new RoutingContext("m", SYSTEM))).isPresent();
    }

    @Test
    void memoryIsBounded() {
        PrefixAwareStrategy s = strategy(100);
        Random r = new Random(1);
        for (int i = 0; i < 200; i++) {
            s.select(nodes, new RoutingContext("m", Long.toString(r.nextLong()).repeat(40)));
        }
        assertThat(s.size()).isEqualTo(100);
        s.forget("http://a:1");
        assertThat(s.size()).isLessThan(100);
    }

    @Test
    void shortPrompt_recordsNothing() {
        PrefixAwareStrategy s = strategy(1000);
        s.select(nodes, new RoutingContext("m", "hi"));
        assertThat(s.size()).isZero();
    }
}
