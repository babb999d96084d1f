package io.tandem.controller.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.sun.net.httpserver.HttpServer;

import io.tandem.controller.errors.InvalidNodeException;
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
 * as Consul does, and records the requests the real consul-client makes.
 */
class ConsulDiscoveryTest {
    private final EventLoop loop = new EventLoop("test-events");
    private final NodeRegistry registry = new NodeRegistry(loop, RegistryConfig.defaults(new FakeClock()));
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private volatile String catalog = "[]";
    private volatile int status = 200;
    private HttpServer consul;
    private ConsulDiscovery discovery;

    @BeforeEach
    void start() throws IOException {
        consul = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        consul.setExecutor(executor);
        consul.createContext("/v1/", ex -> {
            requests.add(ex.getRequestMethod() + " " + ex.getRequestURI());
            byte[] body = (ex.getRequestURI().getPath().startsWith("/v1/health/service/") ? catalog : "[]")
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.getResponseHeaders().add("X-Consul-Index", "42");
            ex.getResponseHeaders().add("X-Consul-Knownleader", "true");
            ex.getResponseHeaders().add("X-Consul-Lastcontact", "0");
            ex.sendResponseHeaders(status, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        consul.start();
        discovery = ConsulDiscovery.connect("http://127.0.0.1:" + consul.getAddress().getPort(),
                ConsulServiceFormat.SERVICE_NAME, Duration.ofSeconds(2), registry);
    }

    @AfterEach
    void stop() {
        discovery.close();
        consul.stop(0);
        executor.shutdownNow();
        loop.close();
    }

    private static String instance(String id, String address, int port, String... tags) {
        return """
                {"Node":{"ID":"n1","Node":"host-%1$s","Address":"10.9.9.9","Datacenter":"dc1",
                         "TaggedAddresses":{"lan":"10.9.9.9","wan":"10.9.9.9"},"Meta":{},"CreateIndex":1,"ModifyIndex":1},
                 "Service":{"ID":"%1$s","Service":"tandem-agent","Tags":[%4$s],"Address":"%2$s","Meta":{},
                            "Port":%3$d,"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,
                            "CreateIndex":1,"ModifyIndex":1},
                 "Checks":[{"Node":"host-%1$s","CheckID":"service:%1$s","Name":"health","Status":"passing",
                            "Notes":"","Output":"","ServiceID":"%1$s","ServiceName":"tandem-agent",
                            "ServiceTags":[],"CreateIndex":1,"ModifyIndex":1}]}
                """.formatted(id, address, port,
                String.join(",", java.util.Arrays.stream(tags).map(t -> "\"" + t + "\"").toList()));
    }

    @Test
    void poll_readsPassingInstancesOfTheService_andAddsNodes() {
        catalog = "[" + instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m", "speed=3") + ","
                + instance("d1", "", 23334, "role=decode", "model=m", "model=n") + "]";
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
        catalog = "[" + instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m") + ","
                + instance("d1", "10.0.0.6", 23333, "role=decode", "model=m") + "]";
        discovery.pollOnce();
        catalog = "[" + instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m") + "]";
        var result = discovery.pollOnce();
        assertThat(result.added()).isEmpty();
        assertThat(result.removed()).containsExactly("http://10.0.0.6:23333");
        assertThat(registry.nodes()).extracting(NodeSnapshot::url).containsExactly("http://10.0.0.5:23333");
    }

    @Test
    void nodesFromOtherSources_areNotTouched() {
        registry.add(NodeSpec.of("http://10.0.0.5:23333", EngineRole.HYBRID, List.of("x"))).join();
        catalog = "[" + instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m") + "]";
        discovery.pollOnce();
        catalog = "[]";
        discovery.pollOnce();
        NodeSnapshot n = registry.node("http://10.0.0.5:23333").orElseThrow();
        assertThat(n.source()).isEqualTo(NodeSource.STATIC);
        assertThat(n.role()).isEqualTo(EngineRole.HYBRID);
    }

    @Test
    void invalidInstances_areSkipped_withTheReason() {
        catalog = "[" + instance("bad", "10.0.0.5", 23333, "model=m") + "]";
        var result = discovery.pollOnce();
        assertThat(result.invalid()).singleElement().asString().contains("role=hybrid|prefill|decode");
        assertThat(registry.nodes()).isEmpty();
    }

    @Test
    void consulOutage_keepsTheNodes() {
        catalog = "[" + instance("p1", "10.0.0.5", 23333, "role=prefill", "model=m") + "]";
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
