package io.tandem.controller.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static io.tandem.controller.testing.FakeConsul.instance;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.math.BigInteger;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.internal.Backoff;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.controller.registry.RegistryConfig;
import io.tandem.controller.testing.FakeClock;
import io.tandem.controller.testing.FakeConsul;

/**
 * Contract test of the catalog calls: {@link FakeConsul} serves {@code /v1/health/service/NAME} as Consul does
 * (blocking queries, {@code passing}) and records the requests the real consul-client makes.
 */
@Timeout(60)
class ConsulDiscoveryTest {
    private final EventLoop loop = new EventLoop("test-events");
    private final NodeRegistry registry = new NodeRegistry(loop, RegistryConfig.defaults(new FakeClock()));
    private FakeConsul consul;
    private ConsulDiscovery discovery;

    @BeforeEach
    void start() throws IOException {
        consul = new FakeConsul();
        discovery = ConsulDiscovery.connect(consul.url(), ConsulServiceFormat.SERVICE_NAME, Duration.ofSeconds(2),
                Duration.ofSeconds(2), new Backoff(Duration.ofMillis(100), Duration.ofMillis(400)), registry);
    }

    @AfterEach
    void stop() {
        discovery.close();
        consul.close();
        loop.close();
    }

    private boolean has(String url) {
        return registry.node(url).isPresent();
    }

    @Test
    void watch_blocksOnTheLastIndex_andFollowsAddsHealthAndRemovals() {
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        discovery.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> has("http://10.0.0.5:23333"));
        // The first read does not block; the next one waits on the index the first one answered, with wait=.
        await().atMost(Duration.ofSeconds(10)).until(() -> consul.requests().size() >= 2);
        assertThat(consul.requests().getFirst()).doesNotContain("index=");
        assertThat(consul.requests().get(1)).contains("passing").contains("index=43").contains("wait=2s");
        int before = consul.requests().size();

        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"),
                instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
        await().atMost(Duration.ofSeconds(10)).until(() -> has("http://10.0.0.6:23333"));
        assertThat(consul.requests().size() - before).as("a change answers the blocked query: no polling").isLessThanOrEqualTo(2);

        consul.catalog(instance(false, "p1", "10.0.0.5", 23333, "role=prefill", "model=m"),
                instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
        await().atMost(Duration.ofSeconds(10)).until(() -> !has("http://10.0.0.5:23333"));
        assertThat(has("http://10.0.0.6:23333")).as("critical check: out; passing: stays").isTrue();

        consul.catalog();
        await().atMost(Duration.ofSeconds(10)).until(() -> registry.nodes().isEmpty());
        assertThat(discovery.failedPolls()).isZero();
    }

    @Test
    void watch_backsOffWhileConsulFails_andRecovers() {
        consul.status(500);
        discovery.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> discovery.failedPolls() >= 3);
        await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(3)).until(() -> true);
        // 100, 200, 400, 400 ... ms between failures: a handful of reads per second, not a hot loop.
        assertThat(consul.requests().size()).isLessThan(15);
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        consul.status(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> has("http://10.0.0.5:23333"));
    }

    @Test
    void index_rules() {
        assertThat(ConsulDiscovery.nextIndex(BigInteger.ZERO, BigInteger.valueOf(7))).isEqualTo(7);
        assertThat(ConsulDiscovery.nextIndex(BigInteger.valueOf(7), BigInteger.valueOf(3))).as("went backwards")
                .isEqualTo(0);
        assertThat(ConsulDiscovery.nextIndex(BigInteger.ZERO, BigInteger.ZERO)).as("never block on 0").isEqualTo(1);
        assertThat(ConsulDiscovery.nextIndex(BigInteger.ONE, null)).isEqualTo(0);
    }

    @Test
    void poll_readsPassingInstancesOfTheService_andAddsNodes() {
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m", "speed=3"),
                instance("d1", "", 23334, "role=decode", "model=m", "model=n"));
        var result = discovery.pollOnce();
        assertThat(consul.requests()).singleElement().asString()
                .startsWith("GET /v1/health/service/tandem-agent").contains("passing");
        assertThat(result.added()).containsExactlyInAnyOrder("http://10.0.0.5:23333", "http://10.9.9.9:23334");
        NodeSnapshot p = registry.node("http://10.0.0.5:23333").orElseThrow();
        assertThat(p.role()).isEqualTo(EngineRole.PREFILL);
        assertThat(p.speed()).isEqualTo(3);
        assertThat(p.source()).isEqualTo(NodeSource.CONSUL);
        assertThat(registry.node("http://10.9.9.9:23334").orElseThrow().models()).containsExactly("m", "n");
    }

    @Test
    void instanceGone_isRemoved_unchangedIsLeftAlone() {
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"),
                instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
        discovery.pollOnce();
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        var result = discovery.pollOnce();
        assertThat(result.added()).isEmpty();
        assertThat(result.removed()).containsExactly("http://10.0.0.6:23333");
        assertThat(registry.nodes()).extracting(NodeSnapshot::url).containsExactly("http://10.0.0.5:23333");
    }

    @Test
    void nodesFromOtherSources_areNotTouched() {
        registry.add(NodeSpec.of("http://10.0.0.5:23333", EngineRole.HYBRID, List.of("x"))).join();
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        discovery.pollOnce();
        consul.catalog();
        discovery.pollOnce();
        NodeSnapshot n = registry.node("http://10.0.0.5:23333").orElseThrow();
        assertThat(n.source()).isEqualTo(NodeSource.STATIC);
        assertThat(n.role()).isEqualTo(EngineRole.HYBRID);
    }

    @Test
    void invalidInstances_areSkipped_withTheReason() {
        consul.catalog(instance("bad", "10.0.0.5", 23333, "model=m"));
        var result = discovery.pollOnce();
        assertThat(result.invalid()).singleElement().asString().contains("role=hybrid|prefill|decode");
        assertThat(registry.nodes()).isEmpty();
    }

    @Test
    void consulOutage_keepsTheNodes() {
        consul.catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        discovery.pollOnce();
        consul.status(500);
        assertThatThrownBy(discovery::pollOnce).isInstanceOf(RuntimeException.class);
        assertThat(registry.nodes()).hasSize(1);
        assertThat(discovery.failedPolls()).isEqualTo(1);
    }

    @Test
    void format_metaUrlOverridesAddress_andRolesParse() {
        NodeSpec spec = ConsulServiceFormat.parse("10.0.0.5", "n", 1, List.of("role=2", "model=m", "team=x"),
                java.util.Map.of("url", "https://agent.example:8443/"));
        assertThat(spec.url()).isEqualTo("https://agent.example:8443");
        assertThat(spec.role()).isEqualTo(EngineRole.PREFILL);
        assertThatThrownBy(() -> ConsulServiceFormat.parse("a", "n", 1, List.of("role=prefill"), java.util.Map.of()))
                .isInstanceOf(InvalidNodeException.class).hasMessageContaining("model=NAME");
        assertThat(ConsulServiceFormat.parse("::1", "n", 5, List.of("role=decode", "model=m"), null).url())
                .isEqualTo("http://[::1]:5");
    }
}
