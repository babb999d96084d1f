package io.tandem.controller.health;

import java.util.Collection;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * Checks the nodes that have no control stream, once per {@link #checkAll()} call (the controller calls it every
 * health interval, ~1 s). With a probe timeout under the interval, a node that dies is seen failing within
 * interval + timeout (< 2 s with the defaults), and the registry takes it out of rotation on the first failure.
 *
 * <p>A node whose previous probe is still running is skipped, so a hanging node never accumulates probes.
 * The checker knows nothing of the registry: it gets its targets from a supplier and hands each result to a sink
 * (the controller turns them into registry events).
 *
 * <p>Thread-safe.
 */
public final class HealthChecker {
    private final HealthProbe probe;
    private final Supplier<? extends Collection<String>> targets;
    private final BiConsumer<String, HealthProbe.ProbeResult> sink;
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();

    public HealthChecker(HealthProbe probe, Supplier<? extends Collection<String>> targets,
                         BiConsumer<String, HealthProbe.ProbeResult> sink) {
        this.probe = probe;
        this.targets = targets;
        this.sink = sink;
    }

    /** Starts one probe per target not already being probed; completes when they all reported. */
    public CompletableFuture<Void> checkAll() {
        var started = targets.get().stream()
                .filter(inFlight::add)
                .map(url -> probe.probe(url)
                        .exceptionally(e -> HealthProbe.ProbeResult.failed("probe error: " + e))
                        .thenAccept(result -> {
                            inFlight.remove(url);
                            sink.accept(url, result);
                        }))
                .toArray(CompletableFuture[]::new);
        return CompletableFuture.allOf(started);
    }

    /** Probes in progress (for tests and metrics). */
    public int inFlight() {
        return inFlight.size();
    }
}
