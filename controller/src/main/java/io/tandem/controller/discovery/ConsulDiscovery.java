package io.tandem.controller.discovery;

import java.math.BigInteger;
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
import org.kiwiproject.consul.model.ConsulResponse;
import org.kiwiproject.consul.option.QueryOptions;
import org.kiwiproject.consul.model.health.ServiceHealth;

import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.internal.Backoff;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeSpec;

/**
 * Keeps the registry in step with Consul's catalog by <b>watching</b> it: {@link #start()} runs a loop of Consul
 * blocking queries ({@code GET /v1/health/service/NAME?passing&index=I&wait=W}, through the kiwiproject
 * consul-client) that return as soon as the passing instances of the agent service change (or after {@code wait}
 * with nothing new), so an agent registering or failing its Consul check reaches the pool within Consul's own
 * propagation time, with one open request instead of a poll every few seconds. Each answer is applied as a
 * difference: new instances and those whose role, models or speed changed are added, and the nodes this discovery
 * added that are gone (deregistered, or critical and so not passing) are removed. Format of an instance:
 * {@link ConsulServiceFormat}.
 *
 * <p>Index handling follows Consul's guidance for blocking queries: the first read (and the first after a reset) is
 * not blocking; the {@code X-Consul-Index} of each answer is the next {@code index}; an index that went backwards
 * (a Consul restart, a snapshot restore) resets it to 0, and one below 1 is raised to 1 so that a buggy answer
 * cannot turn the watch into a busy loop. A failed read backs off ({@link Backoff}, doubling to its maximum) and
 * counts in {@link #failedPolls()}.
 *
 * <p>Nodes added by an operator or attached by stream are never touched (their owner decides), and a Consul outage
 * changes nothing: a failed read keeps the nodes as they are, since removing every node because the catalog is
 * unreachable would turn a Consul problem into an outage.
 *
 * <p>Threads: the watch runs on one virtual thread of its own (consul-client is synchronous; a virtual thread
 * blocked in a socket read is interruptible, so {@link #close()} ends it at once). {@link #pollOnce()} is for that
 * thread and for tests; it is not for concurrent calls.
 */
public final class ConsulDiscovery implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ConsulDiscovery.class.getName());

    private final Consul consul;
    private final String serviceName;
    private final NodeRegistry registry;
    private final Duration wait;
    private final Backoff retryBackoff;
    private final LongAdder failedPolls = new LongAdder();
    /** The X-Consul-Index to block on next; 0 = read without blocking. Watch thread only (volatile for readers). */
    private volatile BigInteger index = BigInteger.ZERO;
    private volatile boolean closed;
    private Thread watcher;

    /** What one read changed. */
    public record PollResult(List<String> added, List<String> removed, List<String> invalid) {}

    /**
     * @param wait         how long one blocking query may wait for a change (Consul caps it at 10 min and adds up
     *                     to 1/16 of jitter)
     * @param retryBackoff delays between reads after failures in a row
     */
    public ConsulDiscovery(Consul consul, String serviceName, Duration wait, Backoff retryBackoff,
                           NodeRegistry registry) {
        if (serviceName == null || serviceName.isBlank()) {
            throw new IllegalArgumentException("serviceName: '" + serviceName + "' (expected: a Consul service name)");
        }
        if (wait.toSeconds() < 1 || wait.toMinutes() > 10) {
            throw new IllegalArgumentException("wait: " + wait + " (expected: 1 s to 10 min, whole seconds)");
        }
        this.consul = consul;
        this.serviceName = serviceName;
        this.wait = wait;
        this.retryBackoff = retryBackoff;
        this.registry = registry;
    }

    /**
     * A client for the Consul agent at {@code consulUrl} (e.g. "http://127.0.0.1:8500"). {@code timeout} bounds the
     * connect and, on top of {@code wait} and Consul's jitter, the read of each blocking query.
     */
    public static ConsulDiscovery connect(String consulUrl, String serviceName, Duration timeout, Duration wait,
                                          Backoff retryBackoff, NodeRegistry registry) {
        Consul consul = Consul.builder()
                .withUrl(consulUrl)
                .withPing(false)
                .withConnectTimeoutMillis(timeout.toMillis())
                .withReadTimeoutMillis(timeout.toMillis() + wait.toMillis() + wait.toMillis() / 16)
                .build();
        return new ConsulDiscovery(consul, serviceName, wait, retryBackoff, registry);
    }

    public long failedPolls() {
        return failedPolls.sum();
    }

    /** The index the next read blocks on (0: it does not block). */
    public BigInteger index() {
        return index;
    }

    /** Starts the watch loop (once). */
    public synchronized void start() {
        if (watcher != null || closed) {
            return;
        }
        watcher = Thread.ofVirtual().name("tandem-consul-watch").start(this::watch);
    }

    private void watch() {
        int failures = 0;
        while (!closed) {
            try {
                pollOnce();
                failures = 0;
            } catch (RuntimeException e) {
                if (closed) {
                    return;
                }
                failures++;
                Duration delay = retryBackoff.delay(failures);
                LOG.log(System.Logger.Level.WARNING, "Consul read of " + serviceName + " failed (" + failures
                        + " in a row), retrying in " + delay.toMillis() + " ms: " + e);
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException stop) {
                    return;
                }
            }
        }
    }

    /**
     * Reads the catalog once (blocking on the last index, if any) and applies the difference; throws if Consul
     * cannot be read (nothing changes then).
     */
    public PollResult pollOnce() {
        List<ServiceHealth> instances;
        BigInteger last = index;
        try {
            QueryOptions options = last.signum() == 0 ? QueryOptions.BLANK
                    : QueryOptions.blockSeconds((int) wait.toSeconds(), last).build();
            ConsulResponse<List<ServiceHealth>> response = consul.healthClient()
                    .getHealthyServiceInstances(serviceName, options);
            instances = response.getResponse();
            index = nextIndex(last, response.getIndex());
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

    /** Consul's rules: backwards resets to 0 (a full, non-blocking read), and an index below 1 becomes 1. */
    static BigInteger nextIndex(BigInteger last, BigInteger answered) {
        if (answered == null) {
            return BigInteger.ZERO;
        }
        if (answered.compareTo(last) < 0) {
            return BigInteger.ZERO;
        }
        return answered.signum() <= 0 ? BigInteger.ONE : answered;
    }

    @Override
    public void close() {
        Thread w;
        synchronized (this) {
            closed = true;
            w = watcher;
        }
        if (w != null) {
            w.interrupt();
            try {
                w.join(Duration.ofSeconds(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        consul.destroy();
    }
}
