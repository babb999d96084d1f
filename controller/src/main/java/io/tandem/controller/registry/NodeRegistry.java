package io.tandem.controller.registry;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;

import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.health.CircuitBreaker;
import io.tandem.controller.health.CircuitState;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.registry.NodeEvent.DrainSet;
import io.tandem.controller.registry.NodeEvent.HealthReport;
import io.tandem.controller.registry.NodeEvent.LoadReport;
import io.tandem.controller.registry.NodeEvent.NodeAdded;
import io.tandem.controller.registry.NodeEvent.NodeRemoved;
import io.tandem.controller.registry.NodeEvent.RequestFailed;
import io.tandem.controller.registry.NodeEvent.RequestSucceeded;
import io.tandem.controller.registry.NodeEvent.SleepSet;
import io.tandem.controller.registry.NodeEvent.StreamAttached;
import io.tandem.controller.registry.NodeEvent.StreamBroken;
import io.tandem.controller.registry.NodeEvent.Tick;
import io.tandem.controller.registry.NodeEvent.WeightsAccepted;
import io.tandem.controller.registry.NodeEvent.WeightsCommitted;
import io.tandem.controller.registry.NodeEvent.WeightsReported;

/**
 * The node pool.
 *
 * <p><b>Design.</b> One owner thread (an {@link EventLoop}, shared with pairing) applies {@link NodeEvent}s one at a
 * time; nothing else touches the mutable per-node state. After every event the owner publishes an immutable
 * snapshot (a {@code volatile} map of {@link NodeSnapshot}s), which readers (routing, /nodes/status) use without
 * locks or queueing. Every mutating method returns a {@link CompletableFuture} completed on the owner thread once the
 * event is applied, so a caller that joins sees its own change in the next snapshot. The exception is what changes
 * twice per request, each node's {@link RequestCounters}: {@link #requestStarted}, {@link #requestFinished} and
 * {@link #requestFailed} update them on the caller's thread, and only a failure, or a success that the circuit
 * breaker needs, becomes an event.
 *
 * <p>Health rules: an HTTP probe failure, a broken control stream or a silent stream ({@code heartbeatTimeout}
 * without a load report) marks the node UNHEALTHY at once; a successful probe or a load report marks it HEALTHY.
 * A failed request only feeds the node's {@link CircuitBreaker} (one reset connection under load must not eject the
 * only node); so does every health failure. The breaker keeps a node with repeated failures, or a flapping one,
 * out for growing periods. Routing skips unhealthy, draining and open-circuit nodes ({@link NodeSnapshot#isRoutable}).
 *
 * <p>Persistence: every add or remove of a STATIC or STREAM node rewrites the {@link StateFile}, on the owner thread
 * (a few hundred bytes per node; adds and removes are rare).
 *
 * <p>Thread-safe: every public method may be called from any thread.
 */
public final class NodeRegistry {
    private static final System.Logger LOG = System.getLogger(NodeRegistry.class.getName());

    private final EventLoop loop;
    private final RegistryConfig config;
    private final Optional<StateFile> stateFile;
    private final List<RegistryListener> listeners = new CopyOnWriteArrayList<>();
    private final LongAdder eventsApplied = new LongAdder();
    /** Owner-thread only. Insertion order = /nodes/status order. */
    private final Map<String, NodeState> nodes = new LinkedHashMap<>();
    /** Owner-thread only. Per model, the weights version of its last successful weight commit. */
    private final Map<String, String> committedWeights = new LinkedHashMap<>();
    private volatile Map<String, NodeSnapshot> snapshot = Map.of();
    /** {@link #snapshot}'s values, published with it (routing reads the list once per pick). */
    private volatile List<NodeSnapshot> nodeList = List.of();

    public NodeRegistry(EventLoop loop, RegistryConfig config) {
        this.loop = loop;
        this.config = config;
        this.stateFile = config.stateFile().map(StateFile::new);
    }

    public void addListener(RegistryListener listener) {
        listeners.add(listener);
    }

    /** Loads the state file (if any) into the pool; completes with the number of nodes loaded. */
    public CompletableFuture<Integer> loadState() {
        return loop.submit("LoadState", () -> {
            if (stateFile.isEmpty()) {
                return 0;
            }
            StateFile.Content content = stateFile.get().load();
            content.committedWeights().forEach(committedWeights::putIfAbsent);
            for (StateFile.Saved n : content.nodes()) {
                nodes.computeIfAbsent(n.spec().url(), u -> {
                    NodeState state = newState(n.spec());
                    state.draining = n.draining();
                    state.sleepLevel = n.sleepLevel();
                    state.expectedWeights = n.expectedWeights().orElse(null);
                    return state;
                });
            }
            publish();
            return content.nodes().size();
        });
    }

    // ---- readers (any thread, no queueing) ----

    /** All nodes, in the order they were added. */
    public List<NodeSnapshot> nodes() {
        return nodeList;
    }

    public Optional<NodeSnapshot> node(String url) {
        return Optional.ofNullable(snapshot.get(canonicalUrl(url)));
    }

    /**
     * {@link NodeSpec#normalizeUrl}, without parsing when {@code url} is already a known node's key (the routing hot
     * path passes back the urls it was given, so this skips a URI parse per request).
     */
    public String canonicalUrl(String url) {
        return url != null && snapshot.containsKey(url) ? url : NodeSpec.normalizeUrl(url);
    }

    // ---- request counters (any thread, no queueing; see RequestCounters) ----

    /** Routing sent a request to {@code url}: its unfinished count + 1. A url not in the pool is ignored. */
    public void requestStarted(String url) {
        NodeSnapshot n = snapshot.get(url);
        if (n != null) {
            n.requests().started();
        }
    }

    /**
     * A request on {@code url} finished well after {@code latency}: unfinished - 1, latency recorded, counted as the
     * node's last success. Its circuit breaker hears of it (an event on the owner thread) only while the breaker is
     * not closed or not yet stable. A url no longer in the pool is ignored.
     */
    public void requestFinished(String url, Duration latency) {
        NodeSnapshot n = snapshot.get(url);
        if (n != null) {
            n.requests().succeeded(latency.toNanos() / 1e9, config.clock().millis());
            if (n.requests().breakerListening()) {
                apply(new RequestSucceeded(url));
            }
        }
    }

    /**
     * A request on {@code url} failed because of the node: unfinished - 1 here, and its circuit breaker counts the
     * failure on the owner thread (the future completes then).
     */
    public CompletableFuture<Object> requestFailed(String url, String reason) {
        NodeSnapshot n = snapshot.get(url);
        if (n != null) {
            n.requests().settled();
        }
        return apply(new NodeEvent.RequestFailed(url, reason));
    }

    /** Events applied since start (a metric). */
    public long eventsApplied() {
        return eventsApplied.sum();
    }

    // ---- events ----

    /** Adds a node, or updates role, models and speed of an existing one; completes with its snapshot. */
    public CompletableFuture<NodeSnapshot> add(NodeSpec spec) {
        return apply(new NodeAdded(spec)).thenApply(NodeSnapshot.class::cast);
    }

    /** Removes a node; completes with its last snapshot, or fails with {@link NodeNotFoundException}. */
    public CompletableFuture<NodeSnapshot> remove(String url) {
        return apply(new NodeRemoved(NodeSpec.normalizeUrl(url))).thenApply(NodeSnapshot.class::cast);
    }

    /**
     * Applies one event. Completes with the affected node's snapshot (NodeAdded, NodeRemoved, StreamAttached,
     * DrainSet, SleepSet, WeightsAccepted), or {@code null} for the others.
     */
    public CompletableFuture<Object> apply(NodeEvent event) {
        return loop.submit(event.name(), () -> {
            Object result = handle(event);
            eventsApplied.increment();
            publish();
            return result;
        });
    }

    private Object handle(NodeEvent event) throws IOException {
        Instant now = config.clock().instant();
        return switch (event) {
            case NodeAdded(NodeSpec spec) -> {
                NodeState state = nodes.get(spec.url());
                if (state == null) {
                    state = newState(spec);
                    nodes.put(spec.url(), state);
                } else {
                    // An operator's add updates the description; a stream-registered node keeps its source.
                    NodeSource source = state.spec.source() == NodeSource.STREAM ? NodeSource.STREAM : spec.source();
                    state.spec = new NodeSpec(spec.url(), spec.role(), spec.models(), spec.speed(),
                            spec.engineConfig().or(state.spec::engineConfig), source);
                }
                persist();
                yield state.snapshot();
            }
            case NodeRemoved(String url) -> {
                NodeState state = nodes.remove(url);
                if (state == null) {
                    throw new NodeNotFoundException("no node " + url + " in the pool");
                }
                NodeSnapshot last = state.snapshot();
                persist();
                listeners.forEach(l -> l.nodeRemoved(last));
                yield last;
            }
            case StreamAttached(NodeSpec spec, String weightsVersion) -> {
                NodeState state = nodes.get(spec.url());
                if (state == null) {
                    state = newState(spec.withSource(NodeSource.STREAM));
                    nodes.put(spec.url(), state);
                    persist();
                } else {
                    if (state.spec.role() != spec.role()) {
                        throw new NodeConflictException("node " + spec.url() + " is in the pool as "
                                + state.spec.role().displayName() + ", cannot register as " + spec.role().displayName());
                    }
                    boolean changed = !state.spec.models().equals(spec.models());
                    state.spec = new NodeSpec(spec.url(), spec.role(), spec.models(),
                            spec.speed() != null ? spec.speed() : state.spec.speed(),
                            spec.engineConfig().or(state.spec::engineConfig), state.spec.source());
                    if (changed) {
                        persist();
                    }
                }
                state.attached = true;
                if (!weightsVersion.isEmpty()) {
                    reportWeights(state, weightsVersion);
                }
                state.load = Optional.of(new NodeLoad(0, 0, 0, 0, 0, now));
                state.setHealth(Health.HEALTHY, "", now);
                state.breaker.onSuccess();
                yield state.snapshot();
            }
            case StreamBroken(String url, String reason) -> {
                NodeState state = nodes.get(url);
                if (state != null && state.attached) {
                    state.attached = false;
                    markDown(state, "control stream broken: " + reason, now);
                }
                yield null;
            }
            case HealthReport(String url, boolean healthy, String reason, boolean timedOut, String weightsVersion) -> {
                NodeState state = nodes.get(url);
                if (state != null && !weightsVersion.isEmpty()) {
                    reportWeights(state, weightsVersion);
                }
                if (state != null && !state.attached) { // an attached stream is the better witness
                    if (healthy) {
                        state.probeTimeouts = 0;
                        state.setHealth(Health.HEALTHY, "", now);
                        state.breaker.onSuccess();
                    } else if (timedOut && state.health != Health.UNHEALTHY
                            && (++state.probeTimeouts < 2 || recentSuccess(state, now))) {
                        // Busy, not dead: under load a node's /health can miss the probe timeout, and taking the
                        // only node out answered 503 to everyone until the next probe. A node answering requests,
                        // or missing one probe, is only counted into the breaker; a second timeout in a row on an
                        // idle node (a hung one: out within two intervals) or a refused connection acts at once.
                        // The same holds for a node just added (health UNKNOWN) whose first probe lands while the
                        // machine is busy: one slow probe must not keep it out until the next interval.
                        state.breaker.onFailure();
                    } else {
                        markDown(state, reason, now);
                    }
                }
                yield null;
            }
            case LoadReport r -> {
                NodeState state = nodes.get(r.url());
                if (state != null && state.attached) {
                    state.load = Optional.of(new NodeLoad(r.running(), r.waiting(), r.kvBlocksUsed(), r.kvBlocksFree(),
                            r.tokensPerSecond(), now));
                    if (state.health != Health.HEALTHY) {
                        state.setHealth(Health.HEALTHY, "", now);
                        state.breaker.onSuccess();
                    }
                }
                yield null;
            }
            case RequestSucceeded(String url) -> {
                NodeState state = nodes.get(url);
                if (state != null) {
                    state.breaker.onSuccess();
                }
                yield null;
            }
            case RequestFailed(String url, String reason) -> {
                NodeState state = nodes.get(url);
                if (state != null) {
                    // One failed request is weak evidence: under load a single reset connection is common, and
                    // taking the node out at once would turn it into an outage when it is the only one. The
                    // breaker opens after failureThreshold failures; a failed probe still acts at once.
                    boolean wasOpen = state.breaker.state() == CircuitState.OPEN;
                    state.breaker.onFailure();
                    if (!wasOpen && state.breaker.state() == CircuitState.OPEN) {
                        LOG.log(System.Logger.Level.WARNING, "node " + url + " out of rotation until "
                                + state.breaker.openUntil() + ": repeated request failures, last: " + reason);
                    }
                }
                yield null;
            }
            case DrainSet(String url, boolean draining) -> {
                NodeState state = existing(url);
                if (state.draining != draining) {
                    state.draining = draining;
                    persist();
                }
                yield state.snapshot();
            }
            case WeightsAccepted(String url) -> {
                NodeState state = existing(url);
                if (state.staleWeights()) {
                    LOG.log(System.Logger.Level.INFO, "node " + url + ": weights " + state.weightsVersion
                            + " accepted by an operator (expected " + state.expectedWeights + ")");
                    state.expectedWeights = state.weightsVersion;
                    persist();
                }
                yield state.snapshot();
            }
            case WeightsReported(String url, String version) -> {
                NodeState state = nodes.get(url);
                if (state != null) {
                    reportWeights(state, version);
                }
                yield null;
            }
            case WeightsCommitted(String url, String version) -> {
                NodeState state = nodes.get(url);
                if (state != null) {
                    state.weightsVersion = version;
                    state.expectedWeights = version;
                    for (String model : state.spec.models()) {
                        committedWeights.put(model, version);
                    }
                    persist();
                }
                yield null;
            }
            case SleepSet(String url, int level) -> {
                NodeState state = existing(url);
                if (state.sleepLevel != level) {
                    state.sleepLevel = level;
                    persist();
                }
                yield state.snapshot();
            }
            case Tick() -> {
                tick(now);
                yield null;
            }
        };
    }

    private void reportWeights(NodeState state, String version) {
        if (version.equals(state.weightsVersion)) {
            return;
        }
        boolean wasStale = state.staleWeights();
        state.weightsVersion = version;
        if (state.staleWeights() && !wasStale) {
            LOG.log(System.Logger.Level.WARNING, "node " + state.spec.url() + " serves weights " + version + " but "
                    + state.expectedWeights + " were committed to it (restarted, or slept at level 2?): out of "
                    + "rotation until a weight update reaches it or it is undrained");
        }
    }

    private NodeState existing(String url) {
        NodeState state = nodes.get(url);
        if (state == null) {
            throw new NodeNotFoundException("no node " + url + " in the pool");
        }
        return state;
    }

    private void tick(Instant now) throws IOException {
        List<String> expired = new ArrayList<>();
        for (NodeState state : nodes.values()) {
            if (state.attached && state.load.isPresent()
                    && Duration.between(state.load.get().reportedAt(), now).compareTo(config.heartbeatTimeout()) > 0) {
                markDown(state, "no load report for " + Duration.between(state.load.get().reportedAt(), now).toMillis()
                        + " ms", now);
            }
            if (state.spec.source() == NodeSource.STREAM && !state.attached && state.health == Health.UNHEALTHY
                    && Duration.between(state.healthChangedAt, now).compareTo(config.streamNodeExpiry()) > 0) {
                expired.add(state.spec.url());
            }
        }
        for (String url : expired) {
            NodeSnapshot last = nodes.remove(url).snapshot();
            LOG.log(System.Logger.Level.INFO, "node " + url + " expired: detached and unhealthy for more than "
                    + config.streamNodeExpiry());
            listeners.forEach(l -> l.nodeRemoved(last));
        }
        if (!expired.isEmpty()) {
            persist();
        }
    }

    private void markDown(NodeState state, String reason, Instant now) {
        boolean wentDown = state.setHealth(Health.UNHEALTHY, reason, now);
        state.breaker.onFailure();
        if (wentDown) {
            LOG.log(System.Logger.Level.WARNING, "node " + state.spec.url() + " down: " + reason);
            NodeSnapshot snap = state.snapshot();
            listeners.forEach(l -> l.nodeDown(snap, reason));
        }
    }

    /** A node new to the pool; one that joins after a weight commit of its model must serve those weights. */
    private NodeState newState(NodeSpec spec) {
        NodeState state = new NodeState(spec, new CircuitBreaker(config.circuitBreaker(), config.clock()),
                config.clock().instant());
        for (String model : spec.models()) {
            String v = committedWeights.get(model);
            if (v != null) {
                state.expectedWeights = v;
            }
        }
        return state;
    }

    private void persist() throws IOException {
        if (stateFile.isPresent()) {
            stateFile.get().save(nodes.values().stream()
                    .filter(s -> s.spec.source() != NodeSource.CONSUL)
                    .map(s -> new StateFile.Saved(s.spec, s.draining, s.sleepLevel,
                            Optional.ofNullable(s.expectedWeights)))
                    .toList(), committedWeights);
        }
    }

    private void publish() {
        Map<String, NodeSnapshot> next = new LinkedHashMap<>();
        nodes.forEach((url, state) -> {
            NodeSnapshot snap = state.snapshot();
            next.put(url, snap);
            // An open or half-open breaker, or one that opened lately (it resets its back-off once stable), needs
            // to hear of successes; a closed, stable one does not, and then requests settle without an event.
            state.requests.breakerListening(snap.circuit() != CircuitState.CLOSED || state.breaker.openings() > 0);
        });
        snapshot = Collections.unmodifiableMap(next);
        nodeList = List.copyOf(next.values());
    }

    /** Whether a request on the node finished well within the last heartbeat timeout: busy, not dead. */
    private boolean recentSuccess(NodeState state, Instant now) {
        long last = state.requests.lastSuccessMillis();
        return last != Long.MIN_VALUE && now.toEpochMilli() - last < config.heartbeatTimeout().toMillis();
    }
}
