package io.tandem.agent.control;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.lifecycle.WeightUpdates;
import io.tandem.agent.service.SessionRegistry;
import io.tandem.engine.scheduler.EngineStats;
import io.tandem.proto.AgentCommand;
import io.tandem.proto.AgentCommandResult;
import io.tandem.proto.AgentLoadReport;
import io.tandem.proto.AgentMessage;
import io.tandem.proto.AgentRegistration;
import io.tandem.proto.ClusterControlGrpc;
import io.tandem.proto.ControllerMessage;
import io.tandem.proto.EngineConfig;
import io.tandem.proto.EngineRole;
import io.tandem.proto.RegistrationAccepted;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Singleton;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This agent's attachment to the controller ({@code --controller HOST:PORT}): one {@code ClusterControl.Attach}
 * stream at a time, as cluster_control.proto describes it. The stream opens with the registration (advertised url,
 * role, served model, engine config, cluster token); once the controller accepts it, a load report (running and
 * waiting requests, KV blocks used and free, generated tokens per second since the last report) goes out every
 * interval the controller asked for; each command is carried out by {@link CommandExecutor} and answered with its
 * result. When the stream ends for any reason but ABORTED (a newer stream of ours replaced it) the link reconnects
 * after a {@link Backoff} delay and registers again.
 *
 * <p>Thread-safety: everything (gRPC callbacks, timers, writes to the stream, which gRPC forbids from two threads
 * at once) runs on one thread, {@code tandem-controller-link}, which is also the channel's executor; the fields
 * below are confined to it. {@link #start()} and {@link #close()} may be called from any thread.
 */
@Singleton
public final class ControllerLink implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControllerLink.class);
    private static final int DEFAULT_REPORT_MS = 1000;

    private final String target;
    private final AgentEngine agent;
    private final AgentRegistration registration;
    private final ScheduledExecutorService loop;
    private final ManagedChannel channel;
    private final ClusterControlGrpc.ClusterControlStub stub;
    private final CommandExecutor commands;
    private final Backoff backoff;
    private final WeightUpdates weights;

    // Confined to the loop thread.
    private Attempt current;
    private ScheduledFuture<?> reports;
    private ScheduledFuture<?> reconnect;
    private long lastGenerated;
    private long lastReportNanos;
    private boolean started;
    private boolean closed;

    public ControllerLink(AgentConfig config, AgentEngine agent, SessionRegistry sessions, WeightUpdates weights) {
        if (!config.attaches()) {
            throw new IllegalStateException("tandem.agent.controller is not set");
        }
        this.target = config.controller();
        this.agent = agent;
        this.weights = weights;
        String url = config.advertiseUrl().isEmpty() ? agent.engineId() : config.advertiseUrl();
        var ec = agent.engine().config();
        this.registration = AgentRegistration.newBuilder()
                .setUrl(url)
                .setRole(switch (agent.role()) {
                    case HYBRID -> EngineRole.ENGINE_ROLE_HYBRID;
                    case PREFILL -> EngineRole.ENGINE_ROLE_PREFILL;
                    case DECODE -> EngineRole.ENGINE_ROLE_DECODE;
                })
                .addModels(agent.servedName())
                // As GET /distserve/engine_info answers it: one device, no CPU blocks.
                .setEngineConfig(EngineConfig.newBuilder().setTpSize(1).setDpSize(1).setPpSize(1).setEpSize(1)
                        .setDpRank(0).setBlockSize(ec.blockSize()).setNumCpuBlocks(0).setNumGpuBlocks(ec.kvBlocks()))
                .setClusterToken(config.clusterToken())
                .setAgentVersion(version())
                .build();
        ScheduledThreadPoolExecutor exec = new ScheduledThreadPoolExecutor(1,
                Thread.ofPlatform().name("tandem-controller-link").daemon(true).factory());
        exec.setRemoveOnCancelPolicy(true);
        this.loop = exec;
        this.channel = Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).executor(loop).build();
        this.stub = ClusterControlGrpc.newStub(channel);
        this.commands = new CommandExecutor(agent, sessions, weights, loop);
        this.backoff = new Backoff(new Random());
    }

    private static String version() {
        String v = ControllerLink.class.getPackage().getImplementationVersion();
        return "tandem-agent " + (v == null ? "dev" : v);
    }

    /** Opens the first stream (in the background; failures are retried with backoff). */
    public void start() {
        onLoop(() -> {
            if (!started && !closed) {
                started = true;
                LOG.info("attaching to the controller at {} as {}", target, registration.getUrl());
                connect();
            }
        });
    }

    /**
     * Ends the stream (the controller marks the node unavailable at once) and stops reconnecting. Idempotent;
     * waits up to two seconds for the channel to close.
     */
    @PreDestroy
    @Override
    public void close() {
        onLoop(() -> {
            if (closed) {
                return;
            }
            closed = true;
            cancelTimers();
            if (current != null) {
                Attempt a = current;
                current = null;
                try {
                    a.out.onCompleted();
                } catch (RuntimeException alreadyEnded) {
                    // the call ended meanwhile
                }
            }
        });
        channel.shutdown();
        try {
            if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
        loop.shutdownNow();
    }

    private void onLoop(Runnable r) {
        try {
            loop.execute(r);
        } catch (RejectedExecutionException closedAlready) {
            // after close(): nothing left to do
        }
    }

    private void connect() {
        reconnect = null;
        if (closed) {
            return;
        }
        Attempt a = new Attempt();
        current = a;
        try {
            a.out = stub.attach(a);
            a.out.onNext(AgentMessage.newBuilder().setRegister(registration.toBuilder()
                    .setWeightsVersion(weights.version())).build());
        } catch (RuntimeException e) {
            ended(a, Status.fromThrowable(e));
        }
    }

    private void registered(Attempt a, RegistrationAccepted accepted) {
        backoff.reset();
        int ms = accepted.getLoadReportIntervalMs() > 0 ? accepted.getLoadReportIntervalMs() : DEFAULT_REPORT_MS;
        LOG.info("attached to the controller at {} as node {}; load report every {} ms", target,
                accepted.getNodeId(), ms);
        lastGenerated = agent.engine().stats().generatedTokens();
        lastReportNanos = System.nanoTime();
        if (reports != null) {
            reports.cancel(false);
        }
        reports = loop.scheduleAtFixedRate(() -> report(a), 0, ms, TimeUnit.MILLISECONDS);
    }

    private void report(Attempt a) {
        if (current != a) {
            return;
        }
        try {
            EngineStats s = agent.engine().stats();
            long now = System.nanoTime();
            double seconds = (now - lastReportNanos) / 1e9;
            double tps = seconds > 0 ? (s.generatedTokens() - lastGenerated) / seconds : 0;
            lastGenerated = s.generatedTokens();
            lastReportNanos = now;
            a.out.onNext(AgentMessage.newBuilder().setLoad(AgentLoadReport.newBuilder()
                    .setRunning(s.running()).setWaiting(s.waiting())
                    .setKvBlocksUsed(s.kvBlocksUsed()).setKvBlocksFree(s.kvBlocksTotal() - s.kvBlocksUsed())
                    .setTokensPerSecond(tps).setWeightsVersion(weights.version())).build());
        } catch (RuntimeException e) {
            // A periodic task that throws is never run again: log and keep reporting.
            LOG.warn("load report to {} failed: {}", target, e.toString());
        }
    }

    private void command(Attempt a, AgentCommand c) {
        LOG.info("controller command {}: {}", c.getCommandId(), c.getKindCase());
        commands.execute(c).whenComplete((v, e) -> onLoop(() -> {
            if (current != a) {
                return; // that stream is gone; the controller failed the command when it ended
            }
            AgentCommandResult.Builder r = AgentCommandResult.newBuilder().setCommandId(c.getCommandId()).setOk(e == null);
            if (e != null) {
                Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                r.setError(cause.getMessage() == null ? cause.toString() : cause.getMessage());
                LOG.warn("controller command {} ({}) failed: {}", c.getCommandId(), c.getKindCase(), r.getError());
            }
            a.out.onNext(AgentMessage.newBuilder().setCommandResult(r).build());
        }));
    }

    private void ended(Attempt a, Status status) {
        if (current != a) {
            return;
        }
        current = null;
        cancelTimers();
        if (closed) {
            return;
        }
        if (status.getCode() == Status.Code.ABORTED) {
            // cluster_control.proto: a newer stream registered our url; that one is the live one.
            LOG.warn("control stream to {} replaced by a newer one ({}); not reconnecting it", target,
                    status.getDescription());
            return;
        }
        Duration delay = backoff.next();
        LOG.warn("control stream to {} ended ({}{}); reconnecting in {} ms", target, status.getCode(),
                status.getDescription() == null ? "" : ": " + status.getDescription(), delay.toMillis());
        reconnect = loop.schedule(this::connect, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void cancelTimers() {
        if (reports != null) {
            reports.cancel(false);
            reports = null;
        }
        if (reconnect != null) {
            reconnect.cancel(false);
            reconnect = null;
        }
    }

    /** One Attach call; its callbacks arrive on the loop thread (the channel's executor). */
    private final class Attempt implements StreamObserver<ControllerMessage> {
        StreamObserver<AgentMessage> out;

        @Override
        public void onNext(ControllerMessage m) {
            if (current != this) {
                return;
            }
            switch (m.getKindCase()) {
                case REGISTERED -> registered(this, m.getRegistered());
                case COMMAND -> command(this, m.getCommand());
                case KIND_NOT_SET -> LOG.debug("ignoring an empty controller message");
            }
        }

        @Override
        public void onError(Throwable t) {
            ended(this, Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            ended(this, Status.UNAVAILABLE.withDescription("the controller ended the stream"));
        }
    }
}
