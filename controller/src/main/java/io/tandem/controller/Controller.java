package io.tandem.controller;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

import io.tandem.controller.admin.HttpNodeAdminClient;
import io.tandem.controller.admin.NodeAdminClient;
import io.tandem.controller.discovery.ConsulDiscovery;
import io.tandem.controller.discovery.ConsulServiceFormat;
import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.grpc.ClusterControlServer;
import io.tandem.controller.grpc.ClusterControlService;
import io.tandem.controller.grpc.NodeCommand;
import io.tandem.controller.health.CircuitBreakerConfig;
import io.tandem.controller.health.HealthChecker;
import io.tandem.controller.health.HealthProbe;
import io.tandem.controller.health.HttpHealthProbe;
import io.tandem.controller.internal.Backoff;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.pairing.ConnectionPool;
import io.tandem.controller.pairing.DistServeClient;
import io.tandem.controller.pairing.HttpDistServeClient;
import io.tandem.controller.pairing.MigrationProtocol;
import io.tandem.controller.pairing.PairInfo;
import io.tandem.controller.pairing.PairState;
import io.tandem.controller.pairing.SessionTable;
import io.tandem.controller.pairing.WarmupResult;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeEvent;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.controller.registry.NodeStatus;
import io.tandem.controller.registry.RegistryConfig;
import io.tandem.controller.registry.RegistryListener;
import io.tandem.controller.routing.NodeSelector;
import io.tandem.controller.routing.RoutingContext;
import io.tandem.controller.routing.RoutingStrategy;
import io.tandem.controller.routing.StrategyName;
import io.tandem.controller.routing.Strategies;

/**
 * The controller library's facade: everything the proxy needs from the cluster brain, and nothing of how it works.
 *
 * <p><b>Lifecycle.</b> {@link #builder()}...{@link Builder#build()} loads the state file, starts the periodic work
 * (HTTP health checks every {@code healthInterval}, heartbeat ticks, the Consul watch, session gc) and, if a gRPC port
 * is set, the ClusterControl server. {@link #close()} stops all of it.
 *
 * <p><b>Requests.</b> {@link #pick} chooses a hybrid node or a connected prefill/decode pair (connecting it on first
 * use) and counts the request as unfinished on each chosen node; the caller settles each node once with
 * {@link #recordLatency} or {@link #markFailure}. A retry after a failure passes the failed nodes in
 * {@link PickRequest#exclude()}.
 *
 * <p><b>Failures</b> are the typed exceptions of {@code io.tandem.controller.errors}, delivered through the
 * returned futures (wrapped in {@link CompletionException} when joined).
 *
 * <p><b>Threads.</b> Cluster state has one owner thread; this facade is thread-safe and never blocks the caller
 * (readers use snapshots, changes return futures). Futures, except a hybrid pick's, complete on the callback executor (default: the common
 * pool), never on the owner thread, so dependent stages may do real work.
 */
public final class Controller implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Controller.class.getName());

    private final Builder config;
    private final EventLoop loop;
    private final NodeRegistry registry;
    private final ConnectionPool pool;
    private final SessionTable sessions;
    private final HealthChecker healthChecker;
    private final ClusterControlService controlService;
    private final ClusterAdmin admin;
    private final Optional<ClusterControlServer> controlServer;
    private final Optional<ConsulDiscovery> discovery;
    private final PeriodicScheduler scheduler;
    private final Optional<HttpClient> ownedHttpClient;
    private final Optional<HttpClient> ownedAdminHttpClient;
    private static final Duration ADMIN_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    private final RoutingStrategy hybridStrategy;
    private final RoutingStrategy prefillStrategy;
    private final RoutingStrategy decodeStrategy;
    private final Executor callbacks;
    private final AtomicLong sessionIds;

    private final LongAdder picks = new LongAdder();
    private final LongAdder pickFailures = new LongAdder();
    private final LongAdder pairRetries = new LongAdder();
    private final LongAdder healthChecksFailed = new LongAdder();
    private final LongAdder requestFailures = new LongAdder();
    private final LongAdder sessionsFreed = new LongAdder();

    private Controller(Builder b) {
        this.config = b;
        this.loop = new EventLoop("tandem-controller-events");
        this.callbacks = b.callbackExecutor;
        Random random = b.random != null ? b.random : new Random();
        this.hybridStrategy = Strategies.create(b.hybridStrategy, random);
        this.prefillStrategy = Strategies.create(b.prefillStrategy, random);
        this.decodeStrategy = Strategies.create(b.decodeStrategy, random);
        // Seeded from the clock so that a restarted proxy does not reuse ids an engine may still hold; kept below
        // 2^48 because engines read session ids as JSON numbers, which must survive a double (2^53).
        this.sessionIds = new AtomicLong((b.clock.millis() & 0xFFFF_FFFFL) << 16);

        HttpClient http = b.httpClient;
        if (http == null && (b.healthProbe == null || b.distServeClient == null)) {
            http = HttpClient.newBuilder().connectTimeout(b.healthTimeout).version(HttpClient.Version.HTTP_1_1).build();
            this.ownedHttpClient = Optional.of(http);
        } else {
            this.ownedHttpClient = Optional.empty();
        }
        HealthProbe probe = b.healthProbe != null ? b.healthProbe : new HttpHealthProbe(http, b.healthTimeout);
        DistServeClient distServe = b.distServeClient != null ? b.distServeClient
                : new HttpDistServeClient(http, b.distServeTimeout, b.clusterToken);

        this.registry = new NodeRegistry(loop, new RegistryConfig(b.clock, b.circuitBreaker, b.heartbeatTimeout,
                b.streamNodeExpiry, Optional.ofNullable(b.stateFile)));
        this.pool = new ConnectionPool(loop, distServe, b.clock, b.pairRetryBackoff, b.migrationProtocol);
        this.sessions = new SessionTable(loop, distServe, b.clock);
        this.registry.addListener(new RegistryListener() {
            @Override
            public void nodeRemoved(NodeSnapshot removed) {
                pool.dropNode(removed.url());
                sessions.freeForNode(removed.url()).thenAccept(freed -> sessionsFreed.add(freed.size()));
            }
        });
        this.healthChecker = new HealthChecker(probe,
                () -> registry.nodes().stream().filter(n -> !n.attached()).map(NodeSnapshot::url).toList(),
                (url, result) -> {
                    if (!result.healthy()) {
                        healthChecksFailed.increment();
                    }
                    return registry.apply(new NodeEvent.HealthReport(url, result.healthy(), result.reason(),
                            result.timedOut(), result.weightsVersion().orElse("")));
                });
        this.controlService = new ClusterControlService(registry, b.clusterToken, b.loadReportInterval);
        // Management calls get a client of their own: the shared one connects within the probe timeout (500 ms), right
        // for probes, too tight for a rare weight commit to a busy node.
        this.ownedAdminHttpClient = b.nodeAdminClient != null || b.httpClient != null ? Optional.empty()
                : Optional.of(HttpClient.newBuilder().connectTimeout(ADMIN_CONNECT_TIMEOUT)
                        .version(HttpClient.Version.HTTP_1_1).build());
        this.admin = new ClusterAdmin(this, registry, controlService, b.nodeAdminClient != null ? b.nodeAdminClient
                : new HttpNodeAdminClient(ownedAdminHttpClient.orElse(b.httpClient), b.nodeAdminTimeout,
                        b.nodeAdminKey), b.clock, b.callbackExecutor);
        this.discovery = Optional.ofNullable(b.consulUrl)
                .map(url -> ConsulDiscovery.connect(url, b.consulService, b.consulTimeout, b.consulWait,
                        b.consulRetryBackoff, registry));
        this.scheduler = b.scheduler != null ? b.scheduler : PeriodicScheduler.system();

        int loaded = registry.loadState().join();
        if (loaded > 0) {
            LOG.log(System.Logger.Level.INFO, "loaded " + loaded + " nodes from " + b.stateFile);
            healthChecker.checkAll();
        }
        scheduler.every("health-checks", b.healthInterval, healthChecker::checkAll);
        scheduler.every("registry-tick", b.healthInterval, () -> registry.apply(new NodeEvent.Tick()));
        scheduler.every("session-gc", b.sessionLease.dividedBy(4), () -> gc());
        discovery.ifPresent(ConsulDiscovery::start);
        try {
            this.controlServer = b.grpcPort == null ? Optional.empty()
                    : Optional.of(ClusterControlServer.start(b.grpcPort, controlService));
        } catch (IOException e) {
            close();
            throw new UncheckedIOException("cannot bind the ClusterControl port " + b.grpcPort, e);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    // ---------------------------------------------------------------- nodes

    /** {@code POST /nodes/add}: adds (or updates) a node with LMDeploy's Status; probes it at once. */
    public CompletableFuture<NodeSnapshot> addNode(String url, NodeStatus status) {
        NodeStatus s = status != null ? status : new NodeStatus(EngineRole.HYBRID, List.of(), null, 0, List.of());
        return addNode(new NodeSpec(url, s.role(), s.models(), s.speed(), Optional.empty(), NodeSource.STATIC));
    }

    /** Adds (or updates) a node; probes it at once so that a dead one leaves rotation before the next interval. */
    public CompletableFuture<NodeSnapshot> addNode(NodeSpec spec) {
        return async(registry.add(spec).whenComplete((n, e) -> {
            if (e == null && !n.attached()) {
                healthChecker.checkAll();
            }
        }));
    }

    /**
     * {@code POST /nodes/remove}: removes a node; its pairs are dropped on both sides and the prefill blocks of
     * sessions that waited for it are freed. Fails with NodeNotFoundException.
     */
    public CompletableFuture<NodeSnapshot> removeNode(String url) {
        return async(registry.remove(url));
    }

    /** Every node, in the order added. */
    public List<NodeSnapshot> nodes() {
        return registry.nodes();
    }

    public Optional<NodeSnapshot> node(String url) {
        return registry.node(url);
    }

    /** {@code GET /nodes/status} in LMDeploy's shape: url -> Status. */
    public Map<String, NodeStatus> status() {
        Map<String, NodeStatus> out = new LinkedHashMap<>();
        registry.nodes().forEach(n -> out.put(n.url(), n.status()));
        return out;
    }

    /** {@code GET /v1/models}: the union of the models the nodes serve, in first-seen order. */
    public List<String> models() {
        Set<String> all = new LinkedHashSet<>();
        registry.nodes().forEach(n -> all.addAll(n.models()));
        return List.copyOf(all);
    }

    /**
     * Runs {@code listener} with a node's url each time a node leaves the pool (removed, terminated, expired). It runs
     * on the controller's owner thread, so it must be short and must not block.
     */
    public void onNodeRemoved(Consumer<String> listener) {
        registry.addListener(new RegistryListener() {
            @Override
            public void nodeRemoved(NodeSnapshot removed) {
                listener.accept(removed.url());
            }
        });
    }

    // ---------------------------------------------------------------- routing

    /** Shorthand for {@link #pick(PickRequest)} with no exclusions. */
    public CompletableFuture<Route> pick(String model, RoutingMode mode, String prompt) {
        return pick(PickRequest.of(model, mode, prompt));
    }

    /**
     * Chooses where a request goes. HYBRID: one hybrid node by the hybrid strategy, chosen from the registry's
     * snapshot on the caller's thread; the returned future is already complete (the node's unfinished count is
     * raised on the caller's thread). DISTSERVE: a prefill node and a
     * decode node by their own strategies, connected as a pair (on first use); if the pair cannot be connected,
     * another pair is tried (up to {@code maxPairAttempts}, leaving out the node whose call failed). Fails with
     * UnknownModelException, NoHealthyNodeException or PairingFailedException.
     */
    public CompletableFuture<Route> pick(PickRequest request) {
        picks.increment();
        RoutingContext ctx = new RoutingContext(request.model(), request.prompt());
        CompletableFuture<Route> route;
        try {
            if (request.mode() == RoutingMode.HYBRID) {
                NodeSnapshot node = NodeSelector.select(registry.nodes(), EngineRole.HYBRID, ctx, hybridStrategy,
                        request.exclude(), config.clock.instant());
                // The hot path: a snapshot read and an atomic count, nothing queued to the owner thread and no hop
                // to the callback executor (the caller's next stage runs at once on its own thread).
                registry.requestStarted(node.url());
                return CompletableFuture.completedFuture(new Route.Hybrid(node));
            } else {
                route = pickPair(ctx, new HashSet<>(request.exclude()), new HashSet<>(request.exclude()), 1);
            }
        } catch (RuntimeException e) {
            pickFailures.increment();
            return CompletableFuture.failedFuture(e);
        }
        return async(route.whenComplete((r, e) -> {
            if (e != null) {
                pickFailures.increment();
            }
        }).thenApply(r -> {
            r.nodeUrls().forEach(registry::requestStarted);
            return r;
        }));
    }

    private CompletableFuture<Route> pickPair(RoutingContext ctx, Set<String> excludePrefill, Set<String> excludeDecode,
                                              int attempt) {
        var now = config.clock.instant();
        List<NodeSnapshot> nodes = registry.nodes();
        NodeSnapshot p = NodeSelector.select(nodes, EngineRole.PREFILL, ctx, prefillStrategy, excludePrefill, now);
        NodeSnapshot d = NodeSelector.select(nodes, EngineRole.DECODE, ctx, decodeStrategy, excludeDecode, now);
        return pool.connect(p.url(), d.url())
                .<Route>thenApply(pair -> new Route.Disaggregated(p, d, pair))
                .exceptionallyCompose(error -> {
                    Throwable cause = error instanceof CompletionException && error.getCause() != null
                            ? error.getCause() : error;
                    if (!(cause instanceof PairingFailedException pfe) || attempt >= config.maxPairAttempts) {
                        return CompletableFuture.failedFuture(cause);
                    }
                    pairRetries.increment();
                    if (pfe.failedNode().map(p.url()::equals).orElse(false)) {
                        excludePrefill.add(p.url());
                    } else {
                        excludeDecode.add(d.url());
                    }
                    try {
                        return pickPair(ctx, excludePrefill, excludeDecode, attempt + 1);
                    } catch (RuntimeException noOtherPair) {
                        return CompletableFuture.failedFuture(cause); // the pairing failure says more
                    }
                });
    }

    /**
     * The request on {@code url} finished: unfinished - 1, latency recorded (LMDeploy's post_call), on the caller's
     * thread.
     */
    public void recordLatency(String url, Duration latency) {
        Objects.requireNonNull(latency, "latency");
        if (latency.isNegative()) {
            throw new IllegalArgumentException("latency: " + latency + " (expected: >= 0)");
        }
        registry.requestFinished(registry.canonicalUrl(url), latency);
    }

    /**
     * The request on {@code url} failed because of the node (connection refused, 5xx, broken stream): unfinished - 1
     * and its circuit breaker counts the failure. One failure does not take the node out (a reset connection under
     * load is not an outage, and ejecting the only node would answer 503 to everyone until the next probe);
     * {@code failureThreshold} failures within the window open the breaker, and a failed health probe or a broken
     * control stream takes it out at once. Retries leave the failed node out with {@link PickRequest#exclude()}.
     */
    public CompletableFuture<Void> markFailure(String url, String reason) {
        requestFailures.increment();
        return async(registry.requestFailed(registry.canonicalUrl(url), reason).thenApply(x -> null));
    }

    // ---------------------------------------------------------------- DistServe

    /** {@code /distserve/connection_warmup}: connects every routable prefill x decode pair and reports each. */
    public CompletableFuture<List<WarmupResult>> connectionWarmup() {
        var now = config.clock.instant();
        List<String> prefills = registry.nodes().stream()
                .filter(n -> n.role() == EngineRole.PREFILL && n.isRoutable(now)).map(NodeSnapshot::url).toList();
        List<String> decodes = registry.nodes().stream()
                .filter(n -> n.role() == EngineRole.DECODE && n.isRoutable(now)).map(NodeSnapshot::url).toList();
        return async(pool.warmup(prefills, decodes));
    }

    /** Known pairs and their states. */
    public List<PairInfo> pairs() {
        return pool.pairs();
    }

    /** A fresh DistServe session id (unique within this controller's life, increasing, below 2^53). */
    public long newSessionId() {
        return sessionIds.incrementAndGet();
    }

    /** The prefill node holds blocks for {@code sessionId} until {@link #finishSession}; freed if its decode leaves. */
    public CompletableFuture<Void> trackSession(long sessionId, String prefillUrl, String decodeUrl) {
        return async(sessions.track(sessionId, registry.canonicalUrl(prefillUrl), registry.canonicalUrl(decodeUrl)));
    }

    /** The decode node took the session's blocks over (or the session ended). */
    public CompletableFuture<Boolean> finishSession(long sessionId) {
        return async(sessions.finish(sessionId));
    }

    /** {@code /distserve/gc}: frees the prefill blocks of sessions older than the session lease; runs periodically too. */
    public CompletableFuture<List<SessionTable.Session>> gc() {
        return async(sessions.gc(config.sessionLease).whenComplete((freed, e) -> {
            if (freed != null) {
                sessionsFreed.add(freed.size());
            }
        }));
    }

    // ---------------------------------------------------------------- agents

    /** Sends a command down an attached agent's control stream; fails with NodeUnavailableException without one. */
    public CompletableFuture<Void> sendCommand(String url, NodeCommand command) {
        return async(controlService.sendCommand(url, command, config.commandTimeout));
    }

    /**
     * Takes a node out of rotation for new requests and, if its agent is attached, tells it to drain. Completes with
     * the node's snapshot.
     */
    public CompletableFuture<NodeSnapshot> drain(String url, Duration deadline) {
        String u = NodeSpec.normalizeUrl(url);
        return async(registry.apply(new NodeEvent.DrainSet(u, true)).thenCompose(snap -> {
            if (!controlService.isAttached(u)) {
                return CompletableFuture.completedFuture((NodeSnapshot) snap);
            }
            return controlService.sendCommand(u, new NodeCommand.Drain(deadline), config.commandTimeout)
                    .thenApply(v -> (NodeSnapshot) snap);
        }));
    }

    /**
     * Puts a drained node back into rotation. An attached agent is told first (it refuses new requests while
     * drained), so routing never picks an agent that still answers 503; if it cannot be told, the node stays drained
     * and the future fails.
     */
    public CompletableFuture<NodeSnapshot> undrain(String url) {
        String u = NodeSpec.normalizeUrl(url);
        CompletableFuture<Void> told = controlService.isAttached(u)
                ? controlService.sendCommand(u, new NodeCommand.Undrain(), config.commandTimeout)
                : CompletableFuture.completedFuture(null);
        return async(told.thenCompose(v -> registry.apply(new NodeEvent.DrainSet(u, false)))
                .thenApply(NodeSnapshot.class::cast));
    }

    /**
     * An operator's undrain ({@code /nodes/undrain}): {@link #undrain}, and a node that serves other weights than the
     * last weight commit left it ({@link NodeSnapshot#staleWeights()}) is accepted as it is and goes back into
     * rotation too.
     */
    public CompletableFuture<NodeSnapshot> undrainAsIs(String url) {
        String u = NodeSpec.normalizeUrl(url);
        return undrain(u).thenCompose(s -> async(registry.apply(new NodeEvent.WeightsAccepted(u))
                .thenApply(NodeSnapshot.class::cast)));
    }

    // ---------------------------------------------------------------- cluster-wide management

    /**
     * {@code POST /update_weights} on the proxy: the agent's weight update on every node of a model. A commit drains,
     * updates and resumes each node, one at a time or all at once; a staging request goes to every node at once.
     * Completes with one result per node, in pool order (failed nodes included: the future fails only when
     * nothing could be tried: UnknownModelException, NoHealthyNodeException, or NodeConflictException while another
     * update runs). See {@link ClusterAdmin} for what is left drained when a node fails.
     */
    public CompletableFuture<List<NodeResult>> updateWeights(WeightUpdate update) {
        return async(attempt(() -> admin.updateWeights(update)));
    }

    /** LMDeploy's /sleep on every node of {@code model} (all when empty); sleeping nodes are out of rotation. */
    public CompletableFuture<List<NodeResult>> sleep(Optional<String> model, int level) {
        return async(attempt(() -> admin.sleep(model, level)));
    }

    /** LMDeploy's /wakeup on every node of {@code model} (all when empty); each goes back once it confirmed. */
    public CompletableFuture<List<NodeResult>> wakeUp(Optional<String> model, List<String> tags) {
        return async(attempt(() -> admin.wakeUp(model, List.copyOf(tags))));
    }

    /** Each node's own /is_sleeping answer, as its result's detail. */
    public CompletableFuture<List<NodeResult>> isSleeping(Optional<String> model) {
        return async(attempt(() -> admin.isSleeping(model)));
    }

    private static <T> CompletableFuture<T> attempt(java.util.function.Supplier<CompletableFuture<T>> op) {
        try {
            return op.get();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** The gRPC service, for a proxy that serves it on its own gRPC server instead of {@link Builder#grpcPort}. */
    public ClusterControlService clusterControlService() {
        return controlService;
    }

    /** The bound ClusterControl port, if {@link Builder#grpcPort} was set. */
    public Optional<Integer> grpcPort() {
        return controlServer.map(ClusterControlServer::port);
    }

    /**
     * Runs one round of HTTP health checks now (the scheduler does it every health interval); completes when every
     * result is applied. Nodes whose previous probe is still running are skipped.
     */
    public CompletableFuture<Void> checkHealthNow() {
        return async(healthChecker.checkAll());
    }

    public ControllerMetrics metrics() {
        var now = config.clock.instant();
        List<NodeSnapshot> nodes = registry.nodes();
        return new ControllerMetrics(picks.sum(), pickFailures.sum(), pairRetries.sum(), healthChecksFailed.sum(),
                requestFailures.sum(), controlService.streamsBroken(),
                discovery.map(ConsulDiscovery::failedPolls).orElse(0L), sessionsFreed.sum(), registry.eventsApplied(),
                nodes.size(), (int) nodes.stream().filter(n -> n.isRoutable(now)).count(),
                (int) pool.pairs().stream().filter(p -> p.state() == PairState.CONNECTED).count(), sessions.size());
    }

    @Override
    public void close() {
        scheduler.close();
        if (controlServer != null) {
            controlServer.ifPresent(ClusterControlServer::close);
        }
        controlService.shutdown();
        if (discovery != null) {
            discovery.ifPresent(ConsulDiscovery::close);
        }
        loop.close();
        ownedHttpClient.ifPresent(HttpClient::close);
        if (ownedAdminHttpClient != null) {
            ownedAdminHttpClient.ifPresent(HttpClient::close);
        }
    }

    /** Completes off the owner thread, so that callers' dependent stages never run on it. */
    private <T> CompletableFuture<T> async(CompletableFuture<T> f) {
        return f.whenCompleteAsync((r, e) -> { }, callbacks);
    }

    /**
     * Settings of a {@link Controller}; every one has a default. Durations are {@link Duration}s; the clock, random
     * source, scheduler, probe and DistServe client can be replaced in tests.
     */
    public static final class Builder {
        private Clock clock = Clock.systemUTC();
        private Random random;
        private StrategyName hybridStrategy = StrategyName.MIN_EXPECTED_LATENCY;
        private StrategyName prefillStrategy = StrategyName.MIN_EXPECTED_LATENCY;
        private StrategyName decodeStrategy = StrategyName.MIN_EXPECTED_LATENCY;
        private Duration healthInterval = Duration.ofSeconds(1);
        private Duration healthTimeout = Duration.ofMillis(500);
        private Duration heartbeatTimeout = Duration.ofSeconds(3);
        private Duration streamNodeExpiry = Duration.ofMinutes(10);
        private Duration loadReportInterval = Duration.ofSeconds(1);
        private Duration distServeTimeout = Duration.ofSeconds(10);
        private Backoff pairRetryBackoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(30));
        private int maxPairAttempts = 3;
        private Duration sessionLease = Duration.ofSeconds(60);
        private Duration commandTimeout = Duration.ofSeconds(10);
        private CircuitBreakerConfig circuitBreaker = CircuitBreakerConfig.DEFAULT;
        private MigrationProtocol migrationProtocol = MigrationProtocol.RDMA;
        private Optional<String> clusterToken = Optional.empty();
        private Path stateFile;
        private Integer grpcPort;
        private String consulUrl;
        private String consulService = ConsulServiceFormat.SERVICE_NAME;
        private Duration consulWait = Duration.ofMinutes(1);
        private Backoff consulRetryBackoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(30));
        private Duration consulTimeout = Duration.ofSeconds(5);
        private PeriodicScheduler scheduler;
        private HttpClient httpClient;
        private HealthProbe healthProbe;
        private DistServeClient distServeClient;
        private NodeAdminClient nodeAdminClient;
        private Optional<String> nodeAdminKey = Optional.empty();
        private Duration nodeAdminTimeout = Duration.ofMinutes(10);
        private Executor callbackExecutor = ForkJoinPool.commonPool();

        private Builder() {}

        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /** Seeds every random choice of the strategies (reproducible routing in tests). */
        public Builder random(Random random) {
            this.random = Objects.requireNonNull(random, "random");
            return this;
        }

        /** One strategy for hybrid, prefill and decode choices. */
        public Builder strategy(StrategyName name) {
            return hybridStrategy(name).prefillStrategy(name).decodeStrategy(name);
        }

        public Builder hybridStrategy(StrategyName name) {
            this.hybridStrategy = Objects.requireNonNull(name, "hybridStrategy");
            return this;
        }

        public Builder prefillStrategy(StrategyName name) {
            this.prefillStrategy = Objects.requireNonNull(name, "prefillStrategy");
            return this;
        }

        public Builder decodeStrategy(StrategyName name) {
            this.decodeStrategy = Objects.requireNonNull(name, "decodeStrategy");
            return this;
        }

        /** How often nodes without a control stream are probed ({@code GET /health}); default 1 s. */
        public Builder healthInterval(Duration d) {
            this.healthInterval = positive("healthInterval", d);
            return this;
        }

        /** Probe timeout; default 500 ms. Keep interval + timeout under 2 s to meet the 2 s detection target. */
        public Builder healthTimeout(Duration d) {
            this.healthTimeout = positive("healthTimeout", d);
            return this;
        }

        /** An attached agent silent this long is marked down; default 3 s (three load-report intervals). */
        public Builder heartbeatTimeout(Duration d) {
            this.heartbeatTimeout = positive("heartbeatTimeout", d);
            return this;
        }

        /** A stream-registered node detached and down this long leaves the pool; default 10 min. */
        public Builder streamNodeExpiry(Duration d) {
            this.streamNodeExpiry = positive("streamNodeExpiry", d);
            return this;
        }

        /** The load-report interval told to agents; default 1 s. */
        public Builder loadReportInterval(Duration d) {
            this.loadReportInterval = positive("loadReportInterval", d);
            return this;
        }

        /** Timeout of each {@code /distserve/*} call; default 10 s. */
        public Builder distServeTimeout(Duration d) {
            this.distServeTimeout = positive("distServeTimeout", d);
            return this;
        }

        /** Backoff between handshakes of a failing pair; default 1 s doubling to 30 s. */
        public Builder pairRetryBackoff(Duration initial, Duration max) {
            this.pairRetryBackoff = new Backoff(initial, max);
            return this;
        }

        /** Pairs tried by one DistServe pick; default 3. */
        public Builder maxPairAttempts(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxPairAttempts: " + n + " (expected: >= 1)");
            }
            this.maxPairAttempts = n;
            return this;
        }

        /** Prefill blocks of a session not finished within this are freed by gc; default 60 s. */
        public Builder sessionLease(Duration d) {
            this.sessionLease = positive("sessionLease", d);
            return this;
        }

        /** How long an agent has to answer a command; default 10 s. */
        public Builder commandTimeout(Duration d) {
            this.commandTimeout = positive("commandTimeout", d);
            return this;
        }

        public Builder circuitBreaker(CircuitBreakerConfig c) {
            this.circuitBreaker = Objects.requireNonNull(c, "circuitBreaker");
            return this;
        }

        /** The KV transport pairs are initialised with; default RDMA. */
        public Builder migrationProtocol(MigrationProtocol p) {
            this.migrationProtocol = Objects.requireNonNull(p, "migrationProtocol");
            return this;
        }

        /** Shared secret agents must present on registration; also sent as a bearer token on /distserve/* calls. */
        public Builder clusterToken(String token) {
            this.clusterToken = Optional.ofNullable(token).filter(t -> !t.isEmpty());
            return this;
        }

        /** Persist the node list here (JSON); reloaded on start. Default: not persisted. */
        public Builder stateFile(Path path) {
            this.stateFile = path;
            return this;
        }

        /** Serve ClusterControl on this port (0 = any free port). Default: not served (see clusterControlService()). */
        public Builder grpcPort(int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("grpcPort: " + port + " (expected: 0..65535)");
            }
            this.grpcPort = port;
            return this;
        }

        /**
         * Watch this Consul agent (e.g. "http://127.0.0.1:8500") for agents of {@code serviceName} with blocking
         * queries of up to {@code wait} each (default 1 min; 1 s to 10 min). Default: no Consul.
         */
        public Builder consul(String url, String serviceName, Duration wait) {
            this.consulUrl = Objects.requireNonNull(url, "consul url");
            this.consulService = Objects.requireNonNull(serviceName, "serviceName");
            this.consulWait = positive("consulWait", wait);
            return this;
        }

        /** Delays between Consul reads after failures in a row; default 1 s doubling to 30 s. */
        public Builder consulRetryBackoff(Duration initial, Duration max) {
            this.consulRetryBackoff = new Backoff(initial, max);
            return this;
        }

        public Builder scheduler(PeriodicScheduler scheduler) {
            this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
            return this;
        }

        /** The HTTP client for probes and /distserve/* calls (default: one of the controller's own). */
        public Builder httpClient(HttpClient client) {
            this.httpClient = Objects.requireNonNull(client, "httpClient");
            return this;
        }

        public Builder healthProbe(HealthProbe probe) {
            this.healthProbe = Objects.requireNonNull(probe, "healthProbe");
            return this;
        }

        public Builder distServeClient(DistServeClient client) {
            this.distServeClient = Objects.requireNonNull(client, "distServeClient");
            return this;
        }

        /** Bearer sent to nodes on /update_weights, /sleep, /wakeup (the agents' --admin-key). Default: none. */
        public Builder nodeAdminKey(String key) {
            this.nodeAdminKey = Optional.ofNullable(key).filter(k -> !k.isBlank());
            return this;
        }

        /** Longest wait for a node's answer to a management call (a weight commit); default 10 min. */
        public Builder nodeAdminTimeout(Duration d) {
            this.nodeAdminTimeout = positive("nodeAdminTimeout", d);
            return this;
        }

        public Builder nodeAdminClient(NodeAdminClient client) {
            this.nodeAdminClient = Objects.requireNonNull(client, "nodeAdminClient");
            return this;
        }

        /** Where returned futures complete (default: the common pool). */
        public Builder callbackExecutor(Executor executor) {
            this.callbackExecutor = Objects.requireNonNull(executor, "callbackExecutor");
            return this;
        }

        public Controller build() {
            return new Controller(this);
        }

        private static Duration positive(String name, Duration d) {
            Objects.requireNonNull(d, name);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
            }
            return d;
        }
    }
}
