package io.tandem.controller.health;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import java.util.function.Supplier;

/**
 * Checks the nodes that have no control stream, once per {@link #checkAll()} call (the controller calls it every
 * health interval, ~1 s). With a probe timeout under the interval, a node that dies is seen failing within
 * interval + timeout (< 2 s with the defaults), and the registry takes it out of rotation on the first failure.
 *
 * <p>A node whose previous probe is still running is skipped, so a hanging node never accumulates probes.
 * The checker knows nothing of the registry: it gets its targets from a supplier and hands each result to a sink
 * (the controller turns them into registry events and returns their futures).
 *
 * <p>Thread-safe.
 */
public final class HealthChecker {
    private final HealthProbe probe;
    private final Supplier<? extends Collection<String>> targets;
    private final BiFunction<String, HealthProbe.ProbeResult, ? extends CompletableFuture<?>> sink;
    private final Map<String, CompletableFuture<Void>> inFlight = new ConcurrentHashMap<>();

    public HealthChecker(HealthProbe probe, Supplier<? extends Collection<String>> targets,
                         BiFunction<String, HealthProbe.ProbeResult, ? extends CompletableFuture<?>> sink) {
        this.probe = probe;
        this.targets = targets;
        this.sink = sink;
    }

    /**
     * Starts one probe per target not already being probed; completes when the sink has taken every result (the
     * sink's future: for the controller, the registry event being applied), including those of probes that were
     * already running.
     */
    public CompletableFuture<Void> checkAll() {
        var rounds = targets.get().stream()
                .map(url -> {
                    CompletableFuture<Void> mine = new CompletableFuture<>();
                    CompletableFuture<Void> running = inFlight.putIfAbsent(url, mine);
                    if (running != null) {
                        return running; // still probing from an earlier round: wait for that one instead
                    }
                    probe.probe(url)
                            .exceptionally(e -> HealthProbe.ProbeResult.failed("probe error: " + e))
                            .thenCompose(result -> {
                                inFlight.remove(url, mine);
                                return sink.apply(url, result).<Void>thenApply(x -> null);
                            })
                            .whenComplete((v, e) -> {
                                inFlight.remove(url, mine);
                                mine.complete(null);
                            });
                    return mine;
                })
                .toArray(CompletableFuture[]::new);
        return CompletableFuture.allOf(rounds);
    }

    /** Probes in progress (for tests and metrics). */
    public int inFlight() {
        return inFlight.size();
    }
}
