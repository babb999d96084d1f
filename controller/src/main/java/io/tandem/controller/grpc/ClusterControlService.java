package io.tandem.controller.grpc;

import java.security.MessageDigest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.controller.registry.NodeEvent;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.proto.AgentMessage;
import io.tandem.proto.ClusterControlGrpc;
import io.tandem.proto.ControllerMessage;
import io.tandem.proto.RegistrationAccepted;

/**
 * The server side of {@code tandem.ClusterControl} (see cluster_control.proto for the protocol and status codes).
 *
 * <p>An agent's first message registers it: the node enters the registry attached and healthy, and the stream's
 * session is stored by url, replacing (ABORTED) an older stream of the same url. Load reports become registry
 * events; the stream's end (error, cancel or completion) marks the node unavailable at once, unless a newer stream
 * has replaced it. Commands go down the stream through {@link #sendCommand}.
 *
 * <p><b>Re-attach.</b> The controller's drain and sleep state of a node outlives its stream: when an agent registers
 * a url the registry knows as draining or asleep (its stream broke, or its process restarted), it is told again
 * right after the registration answer ({@code Drain} without deadline, {@code Sleep} with the level), so it never
 * comes back into service behind the operator's back. A node registering again while not draining is sent
 * {@code Undrain} (idempotent on the agent), since an undrain given while it was detached could not reach it.
 *
 * <p>Thread-safe. gRPC delivers one stream's inbound messages serially; sessions live in a concurrent map whose
 * replace-by-url is atomic, so an old stream breaking after a new one registered cannot mark the node down.
 */
public final class ClusterControlService extends ClusterControlGrpc.ClusterControlImplBase {
    private static final System.Logger LOG = System.getLogger(ClusterControlService.class.getName());
    /** How long an agent has to confirm a restored drain or sleep (a failure is logged; the registry is unchanged). */
    private static final Duration RESTORE_TIMEOUT = Duration.ofSeconds(30);

    private final NodeRegistry registry;
    private final Optional<String> clusterToken;
    private final Duration loadReportInterval;
    private final Map<String, AgentSession> sessions = new ConcurrentHashMap<>();
    /** Urls that have registered before (a later register is a re-attach that must be told the node's state). */
    private final Set<String> registeredBefore = ConcurrentHashMap.newKeySet();
    private final LongAdder streamsBroken = new LongAdder();
    private volatile boolean closing;

    public ClusterControlService(NodeRegistry registry, Optional<String> clusterToken, Duration loadReportInterval) {
        this.registry = registry;
        this.clusterToken = clusterToken.filter(t -> !t.isEmpty());
        this.loadReportInterval = loadReportInterval;
    }

    /** Sends a command to an attached agent; completes when the agent answers ok. */
    public CompletableFuture<Void> sendCommand(String nodeUrl, NodeCommand command, Duration timeout) {
        AgentSession session = sessions.get(NodeSpec.normalizeUrl(nodeUrl));
        if (session == null) {
            return CompletableFuture.failedFuture(new NodeUnavailableException("node " + nodeUrl
                    + " has no control stream (commands need an agent attached with --controller)"));
        }
        return session.command(command, timeout);
    }

    /** Whether a control stream is attached for {@code nodeUrl} now. */
    public boolean isAttached(String nodeUrl) {
        return sessions.containsKey(NodeSpec.normalizeUrl(nodeUrl));
    }

    /** Streams that ended while current (a metric). */
    public long streamsBroken() {
        return streamsBroken.sum();
    }

    /** Ends every stream with UNAVAILABLE (agents reconnect to the next controller). */
    public void shutdown() {
        closing = true;
        sessions.values().forEach(s -> s.close(Status.UNAVAILABLE.withDescription("controller shutting down")));
        sessions.clear();
    }

    /** Tells a (re-)attached agent the drain and sleep state the registry holds for it (see the class comment). */
    private void restoreState(AgentSession session, NodeSnapshot node, boolean reattach) {
        List<NodeCommand> commands = new ArrayList<>();
        if (node.draining()) {
            commands.add(new NodeCommand.Drain(Duration.ZERO));
        } else if (reattach) {
            commands.add(new NodeCommand.Undrain());
        }
        if (node.sleeping()) {
            commands.add(new NodeCommand.Sleep(node.sleepLevel()));
        }
        for (NodeCommand c : commands) {
            LOG.log(System.Logger.Level.INFO, "restoring " + c + " on agent " + session.url);
            session.command(c, RESTORE_TIMEOUT).whenComplete((v, e) -> {
                if (e != null) {
                    LOG.log(System.Logger.Level.WARNING, "could not restore " + c + " on " + session.url + ": " + e);
                }
            });
        }
    }

    @Override
    public StreamObserver<AgentMessage> attach(StreamObserver<ControllerMessage> out) {
        return new StreamObserver<>() {
            /** Set by the first message; gRPC calls this observer serially. */
            private AgentSession session;
            private volatile boolean rejected;
            /** The weights version this stream reported last; a change is passed on to the registry. */
            private String weights = "";

            @Override
            public void onNext(AgentMessage message) {
                if (rejected) {
                    return;
                }
                if (session == null) {
                    register(message);
                    return;
                }
                switch (message.getKindCase()) {
                    case REGISTER -> reject(Status.INVALID_ARGUMENT.withDescription("second register on one stream"));
                    case LOAD -> {
                        try {
                            registry.apply(ProtoConversions.toEvent(session.url, message.getLoad()));
                            reportWeights(message.getLoad().getWeightsVersion());
                        } catch (IllegalArgumentException e) {
                            reject(Status.INVALID_ARGUMENT.withDescription(e.getMessage()));
                        }
                    }
                    case COMMAND_RESULT -> session.result(message.getCommandResult());
                    case KIND_NOT_SET -> { } // a newer agent's message kind: ignore, as protobuf intends
                }
            }

            private void register(AgentMessage message) {
                if (closing) {
                    rejectBeforeSession(Status.UNAVAILABLE.withDescription("controller shutting down"));
                    return;
                }
                if (!message.hasRegister()) {
                    rejectBeforeSession(Status.INVALID_ARGUMENT.withDescription(
                            "first message must be register, got " + message.getKindCase()));
                    return;
                }
                var r = message.getRegister();
                if (clusterToken.isPresent() && !MessageDigest.isEqual(
                        clusterToken.get().getBytes(StandardCharsets.UTF_8),
                        r.getClusterToken().getBytes(StandardCharsets.UTF_8))) {
                    rejectBeforeSession(Status.UNAUTHENTICATED.withDescription("cluster_token does not match"));
                    return;
                }
                NodeSpec spec;
                try {
                    spec = ProtoConversions.toSpec(r);
                } catch (RuntimeException e) {
                    rejectBeforeSession(ProtoConversions.toStatus(e));
                    return;
                }
                AgentSession mine = new AgentSession(spec.url(), out);
                session = mine;
                AgentSession older = sessions.put(spec.url(), mine);
                if (older != null) {
                    older.close(Status.ABORTED.withDescription("superseded by a newer stream for " + spec.url()));
                }
                boolean reattach = !registeredBefore.add(spec.url());
                weights = r.getWeightsVersion();
                registry.apply(new NodeEvent.StreamAttached(spec, weights)).whenComplete((snapshot, error) -> {
                    if (error != null) {
                        sessions.remove(spec.url(), mine);
                        rejected = true;
                        mine.close(ProtoConversions.toStatus(error));
                        return;
                    }
                    LOG.log(System.Logger.Level.INFO, "agent " + spec.url() + " attached as " + spec.role().displayName());
                    mine.send(ControllerMessage.newBuilder().setRegistered(RegistrationAccepted.newBuilder()
                            .setNodeId(spec.url())
                            .setLoadReportIntervalMs((int) loadReportInterval.toMillis())).build());
                    restoreState(mine, (NodeSnapshot) snapshot, reattach);
                });
            }

            private void reportWeights(String version) {
                if (!version.isEmpty() && !version.equals(weights)) {
                    weights = version;
                    registry.apply(new NodeEvent.WeightsReported(session.url, version));
                }
            }

            private void rejectBeforeSession(Status status) {
                rejected = true;
                out.onError(status.asRuntimeException());
            }

            private void reject(Status status) {
                rejected = true;
                if (sessions.remove(session.url, session)) {
                    streamsBroken.increment();
                    registry.apply(new NodeEvent.StreamBroken(session.url, status.getDescription()));
                }
                session.close(status);
            }

            @Override
            public void onError(Throwable t) {
                ended("stream error: " + Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                ended("agent closed the stream");
                if (session != null) {
                    session.close(Status.OK);
                }
            }

            private void ended(String reason) {
                if (session == null) {
                    return;
                }
                session.ended(reason);
                if (sessions.remove(session.url, session)) {
                    streamsBroken.increment();
                    LOG.log(System.Logger.Level.WARNING, "agent " + session.url + " detached: " + reason);
                    registry.apply(new NodeEvent.StreamBroken(session.url, reason));
                }
            }
        };
    }
}
