package io.tandem.controller.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.kiwiproject.consul.Consul;
import org.kiwiproject.consul.model.agent.ImmutableRegistration;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.consul.ConsulContainer;

import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.RegistryConfig;

/**
 * Discovery against a real Consul agent in a container. Skips itself where Docker is absent; the same code path is
 * covered by {@link ConsulDiscoveryTest} against a fake of the catalog API.
 */
class ConsulDiscoveryIT {
    private static ConsulContainer container;
    private static boolean docker;

    @BeforeAll
    static void startConsul() {
        try {
            docker = DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            docker = false;
        }
        if (docker) {
            container = new ConsulContainer("hashicorp/consul:1.20");
            container.start();
        }
    }

    @BeforeEach
    void requireDocker() {
        Assumptions.assumeTrue(docker, "Docker is not available on this machine: the Testcontainers Consul test is "
                + "skipped (ConsulDiscoveryTest covers the same catalog calls against a fake Consul API)");
    }

    @AfterAll
    static void stopConsul() {
        if (container != null) {
            container.stop();
        }
    }

    @Test
    void registeredAgent_isDiscovered_andDeregisteredAgentRemoved() {
        String consulUrl = "http://" + container.getHost() + ":" + container.getMappedPort(8500);
        EventLoop loop = new EventLoop("it-events");
        NodeRegistry registry = new NodeRegistry(loop, RegistryConfig.defaults(java.time.Clock.systemUTC()));
        Consul consul = Consul.builder().withUrl(consulUrl).build();
        try (ConsulDiscovery discovery = ConsulDiscovery.connect(consulUrl, ConsulServiceFormat.SERVICE_NAME,
                Duration.ofSeconds(5), Duration.ofSeconds(5),
                new io.tandem.controller.internal.Backoff(Duration.ofMillis(200), Duration.ofSeconds(2)), registry)) {
            consul.agentClient().register(ImmutableRegistration.builder()
                    .id("agent-1").name(ConsulServiceFormat.SERVICE_NAME).address("10.1.2.3").port(23333)
                    .tags(List.of("role=decode", "model=m")).build());
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                discovery.pollOnce();
                assertThat(registry.node("http://10.1.2.3:23333")).get()
                        .satisfies(n -> assertThat(n.role()).isEqualTo(EngineRole.DECODE));
            });
            consul.agentClient().deregister("agent-1");
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                discovery.pollOnce();
                assertThat(registry.nodes()).isEmpty();
            });
        } finally {
            consul.destroy();
            loop.close();
        }
    }
}
