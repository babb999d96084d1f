package io.tandem.controller.discovery;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

import org.kiwiproject.consul.Consul;
import org.kiwiproject.consul.model.health.ServiceHealth;

import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeSpec;

/**
 * Keeps the registry in step with Consul's catalog: every {@link #pollOnce()} reads the passing instances of the
 * agent service ({@code GET /v1/health/service/NAME?passing}) through the kiwiproject consul-client, adds the new
 * ones and those whose role, models or speed changed, and removes the nodes it added that are gone (deregistered or
 * failing their Consul check). Format of an instance: {@link ConsulServiceFormat}.
 *
 * <p>Nodes added by an operator or attached by stream are never touched (their owner decides), and a Consul outage
 * changes nothing: a failed poll keeps the nodes as they are, since removing every node because the catalog is
 * unreachable would turn a Consul problem into an outage.
 *
 * <p>{@link #pollOnce()} blocks on Consul (consul-client is synchronous): the controller calls it on its scheduler
 * thread, never on the event thread. Not for concurrent polls: one scheduler calls it.
 */
public final class ConsulDiscovery implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ConsulDiscovery.class.getName());

    private final Consul consul;
    private final String serviceName;
    private final NodeRegistry registry;
    private final LongAdder failedPolls = new LongAdder();

    /** What one poll changed. */
    public record PollResult(List<String> added, List<String> removed, List<String> invalid) {}

    public ConsulDiscovery(Consul consul, String serviceName, NodeRegistry registry) {
        if (serviceName == null || serviceName.isBlank()) {
            throw new IllegalArgumentException("serviceName: '" + serviceName + "' (expected: a Consul service name)");
        }
        this.consul = consul;
        this.serviceName = serviceName;
        this.registry = registry;
    }

    /** A client for the Consul agent at {@code consulUrl} (e.g. "http://127.0.0.1:8500"). */
    public static ConsulDiscovery connect(String consulUrl, String serviceName, Duration timeout, NodeRegistry registry) {
        Consul consul = Consul.builder()
                .withUrl(consulUrl)
                .withPing(false)
                .withConnectTimeoutMillis(timeout.toMillis())
                .withReadTimeoutMillis(timeout.toMillis())
                .build();
        return new ConsulDiscovery(consul, serviceName, registry);
    }

    public long failedPolls() {
        return failedPolls.sum();
    }

    /** Reads the catalog once and applies the difference; throws if Consul cannot be read (nothing changes then). */
    public PollResult pollOnce() {
        List<ServiceHealth> instances;
        try {
            instances = consul.healthClient().getHealthyServiceInstances(serviceName).getResponse();
        } catch (RuntimeException e) {
            failedPolls.increment();
            throw e;
        }
        Map<String, NodeSpec> wanted = new HashMap<>();
        List<String> invalid = new ArrayList<>();
        for (ServiceHealth h : instances) {
            var s = h.getService();
            try {
                NodeSpec spec = ConsulServiceFormat.parse(s.getAddress(), h.getNode().getAddress(), s.getPort(),
                        s.getTags(), s.getMeta());
                wanted.put(spec.url(), spec);
            } catch (InvalidNodeException e) {
                invalid.add(s.getId() + ": " + e.getMessage());
            }
        }
        if (!invalid.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "ignoring Consul instances of " + serviceName + ": " + invalid);
        }
        Map<String, NodeSnapshot> current = new HashMap<>();
        registry.nodes().forEach(n -> current.put(n.url(), n));

        List<String> added = new ArrayList<>();
        List<CompletableFuture<?>> changes = new ArrayList<>();
        for (NodeSpec spec : wanted.values()) {
            NodeSnapshot existing = current.get(spec.url());
            if (existing == null || existing.source() == NodeSource.CONSUL && (existing.role() != spec.role()
                    || !existing.models().equals(spec.models()) || !java.util.Objects.equals(existing.speed(), spec.speed()))) {
                changes.add(registry.add(spec));
                added.add(spec.url());
            }
        }
        List<String> removed = new ArrayList<>();
        Set<String> wantedUrls = new HashSet<>(wanted.keySet());
        for (NodeSnapshot n : current.values()) {
            if (n.source() == NodeSource.CONSUL && !wantedUrls.contains(n.url())) {
                changes.add(registry.remove(n.url()).exceptionally(e -> {
                    if (!(e.getCause() instanceof NodeNotFoundException)) {
                        LOG.log(System.Logger.Level.WARNING, "could not remove " + n.url() + ": " + e);
                    }
                    return null;
                }));
                removed.add(n.url());
            }
        }
        CompletableFuture.allOf(changes.toArray(CompletableFuture[]::new)).join();
        return new PollResult(List.copyOf(added), List.copyOf(removed), List.copyOf(invalid));
    }

    @Override
    public void close() {
        consul.destroy();
    }
}
