package io.tandem.controller.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.math.BigInteger;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import com.sun.net.httpserver.HttpServer;

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

/**
 * Contract test of the catalog calls: a fake Consul HTTP API on 127.0.0.1 serves {@code /v1/health/service/NAME}
 * as Consul does (blocking queries included: a request whose {@code index} is the current X-Consul-Index waits up to
 * {@code wait} for a change; {@code passing} leaves out instances whose check is critical), and records the requests
 * the real consul-client makes.
 */
@Timeout(60)
class ConsulDiscoveryTest {
    private final EventLoop loop = new EventLoop("test-events");
    private final NodeRegistry registry = new NodeRegistry(loop, RegistryConfig.defaults(new FakeClock()));
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final Object lock = new Object();
    // @GuardedBy("lock")
    private List<Instance> instances = List.of();
    // @GuardedBy("lock")
    private long index = 42;
    private volatile int status = 200;
    private HttpServer consul;
    private ConsulDiscovery discovery;

    /** One service instance of the fake catalog and whether its check passes. */
    private record Instance(String json, boolean passing) {}

    @BeforeEach
    void start() throws IOException {
        consul = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        consul.setExecutor(executor);
        consul.createContext("/v1/", ex -> {
            String query = ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery();
            requests.add(ex.getRequestMethod() + " " + ex.getRequestURI());
            String body;
            long answeredIndex;
            synchronized (lock) {
                Map<String, String> params = params(query);
                if (status == 200 && params.containsKey("index") && Long.parseLong(params.get("index")) == index) {
                    long waitMs = Duration.ofSeconds(Long.parseLong(params.getOrDefault("wait", "300s")
                            .replace("s", ""))).toMillis();
                    long until = System.currentTimeMillis() + waitMs;
                    long seen = index;
                    while (index == seen && System.currentTimeMillis() < until) {
                        try {
                            lock.wait(Math.max(1, until - System.currentTimeMillis()));
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            break;
                        }
                    }
                }
                boolean passingOnly = params.containsKey("passing");
                body = ex.getRequestURI().getPath().startsWith("/v1/health/service/")
                        ? "[" + String.join(",", instances.stream().filter(i -> i.passing() || !passingOnly)
                                .map(Instance::json).toList()) + "]"
                        : "[]";
                answeredIndex = index;
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.getResponseHeaders().add("X-Consul-Index", Long.toString(answeredIndex));
            ex.getResponseHeaders().add("X-Consul-Knownleader", "true");
            ex.getResponseHeaders().add("X-Consul-Lastcontact", "0");
            ex.sendResponseHeaders(status, bytes.length);
            ex.getResponseBody().write(bytes);
            ex.close();
        });
        consul.start();
        discovery = ConsulDiscovery.connect("http://127.0.0.1:" + consul.getAddress().getPort(),
                ConsulServiceFormat.SERVICE_NAME, Duration.ofSeconds(2), Duration.ofSeconds(2),
                new Backoff(Duration.ofMillis(100), Duration.ofMillis(400)), registry);
    }

    @AfterEach
    void stop() {
        discovery.close();
        consul.stop(0);
        executor.shutdownNow();
        loop.close();
    }

    private static Map<String, String> params(String query) {
        Map<String, String> out = new HashMap<>();
        for (String kv : query.split("&")) {
            if (!kv.isEmpty()) {
                int eq = kv.indexOf('=');
                out.put(eq < 0 ? kv : kv.substring(0, eq), eq < 0 ? "" : kv.substring(eq + 1));
            }
        }
        return out;
    }

    /** Replaces the catalog, as a Consul change does: the index moves and blocked queries return. */
    private void catalog(Instance... now) {
        synchronized (lock) {
            instances = List.of(now);
            index++;
            lock.notifyAll();
        }
    }

    private static Instance instance(String id, String address, int port, String... tags) {
        return instance(true, id, address, port, tags);
    }

    private static Instance instance(boolean passing, String id, String address, int port, String... tags) {
        return new Instance("""
                {"Node":{"ID":"n1","Node":"host-%1$s","Address":"10.9.9.9","Datacenter":"dc1",
                         "TaggedAddresses":{"lan":"10.9.9.9","wan":"10.9.9.9"},"Meta":{},"CreateIndex":1,"ModifyIndex":1},
                 "Service":{"ID":"%1$s","Service":"tandem-agent","Tags":[%4$s],"Address":"%2$s","Meta":{},
                            "Port":%3$d,"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,
                            "CreateIndex":1,"ModifyIndex":1},
                 "Checks":[{"Node":"host-%1$s","CheckID":"service:%1$s","Name":"health","Status":"%5$s",
                            "Notes":"","Output":"","ServiceID":"%1$s","ServiceName":"tandem-agent",
                            "ServiceTags":[],"CreateIndex":1,"ModifyIndex":1}]}
                """.formatted(id, address, port,
                String.join(",", java.util.Arrays.stream(tags).map(t -> "\"" + t + "\"").toList()),
                passing ? "passing" : "critical"), passing);
    }

    private boolean has(String url) {
        return registry.node(url).isPresent();
    }

    @Test
    void watch_blocksOnTheLastIndex_andFollowsAddsHealthAndRemovals() {
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        discovery.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> has("http://10.0.0.5:23333"));
        // The first read does not block; the next one waits on the index the first one answered, with wait=.
        await().atMost(Duration.ofSeconds(10)).until(() -> requests.size() >= 2);
        assertThat(requests.getFirst()).doesNotContain("index=");
        assertThat(requests.get(1)).contains("passing").contains("index=43").contains("wait=2s");
        int before = requests.size();

        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"),
                instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
        await().atMost(Duration.ofSeconds(10)).until(() -> has("http://10.0.0.6:23333"));
        assertThat(requests.size() - before).as("a change answers the blocked query: no polling").isLessThanOrEqualTo(2);

        catalog(instance(false, "p1", "10.0.0.5", 23333, "role=prefill", "model=m"),
                instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
        await().atMost(Duration.ofSeconds(10)).until(() -> !has("http://10.0.0.5:23333"));
        assertThat(has("http://10.0.0.6:23333")).as("critical check: out; passing: stays").isTrue();

        catalog();
        await().atMost(Duration.ofSeconds(10)).until(() -> registry.nodes().isEmpty());
        assertThat(discovery.failedPolls()).isZero();
    }

    @Test
    void watch_backsOffWhileConsulFails_andRecovers() {
        status = 500;
        discovery.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> discovery.failedPolls() >= 3);
        await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(3)).until(() -> true);
        // 100, 200, 400, 400 ... ms between failures: a handful of reads per second, not a hot loop.
        assertThat(requests.size()).isLessThan(15);
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        status = 200;
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
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m", "speed=3"),
                instance("d1", "", 23334, "role=decode", "model=m", "model=n"));
        var result = discovery.pollOnce();
        assertThat(requests).singleElement().asString()
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
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"),
                instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
        discovery.pollOnce();
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        var result = discovery.pollOnce();
        assertThat(result.added()).isEmpty();
        assertThat(result.removed()).containsExactly("http://10.0.0.6:23333");
        assertThat(registry.nodes()).extracting(NodeSnapshot::url).containsExactly("http://10.0.0.5:23333");
    }

    @Test
    void nodesFromOtherSources_areNotTouched() {
        registry.add(NodeSpec.of("http://10.0.0.5:23333", EngineRole.HYBRID, List.of("x"))).join();
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        discovery.pollOnce();
        catalog();
        discovery.pollOnce();
        NodeSnapshot n = registry.node("http://10.0.0.5:23333").orElseThrow();
        assertThat(n.source()).isEqualTo(NodeSource.STATIC);
        assertThat(n.role()).isEqualTo(EngineRole.HYBRID);
    }

    @Test
    void invalidInstances_areSkipped_withTheReason() {
        catalog(instance("bad", "10.0.0.5", 23333, "model=m"));
        var result = discovery.pollOnce();
        assertThat(result.invalid()).singleElement().asString().contains("role=hybrid|prefill|decode");
        assertThat(registry.nodes()).isEmpty();
    }

    @Test
    void consulOutage_keepsTheNodes() {
        catalog(instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m"));
        discovery.pollOnce();
        status = 500;
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
