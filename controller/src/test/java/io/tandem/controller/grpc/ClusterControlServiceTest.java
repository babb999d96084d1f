package io.tandem.controller.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.tandem.controller.errors.CommandFailedException;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.Health;
import io.tandem.controller.registry.NodeEvent;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.controller.registry.RegistryConfig;
import io.tandem.controller.testing.FakeClock;
import io.tandem.proto.AgentCommandResult;
import io.tandem.proto.AgentLoadReport;
import io.tandem.proto.AgentMessage;
import io.tandem.proto.AgentRegistration;
import io.tandem.proto.ClusterControlGrpc;
import io.tandem.proto.ControllerMessage;
import io.tandem.proto.EngineConfig;

class ClusterControlServiceTest {
    private static final String URL = "http://10.0.0.7:23333";

    private final FakeClock clock = new FakeClock();
    private final EventLoop loop = new EventLoop("test-events");
    private final NodeRegistry registry = new NodeRegistry(loop, RegistryConfig.defaults(clock));
    private final ClusterControlService service =
            new ClusterControlService(registry, Optional.of("s3cret"), Duration.ofSeconds(1));
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(service).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
        loop.close();
    }

    /** The agent's side of one stream: what it received and how it ended. */
    private final class Agent implements StreamObserver<ControllerMessage> {
        final List<ControllerMessage> received = new CopyOnWriteArrayList<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
        final StreamObserver<AgentMessage> send = ClusterControlGrpc.newStub(channel).attach(this);
        boolean answerOk = true;

        @Override
        public void onNext(ControllerMessage m) {
            received.add(m);
            if (m.hasCommand()) {
                send.onNext(AgentMessage.newBuilder().setCommandResult(AgentCommandResult.newBuilder()
                        .setCommandId(m.getCommand().getCommandId()).setOk(answerOk)
                        .setError(answerOk ? "" : "busy")).build());
            }
        }

        @Override
        public void onError(Throwable t) {
            ended.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            ended.complete(Status.OK);
        }

        Agent register(io.tandem.proto.EngineRole role, String token) {
            send.onNext(AgentMessage.newBuilder().setRegister(AgentRegistration.newBuilder()
                    .setUrl(URL + "/").setRole(role).addModels("m").setClusterToken(token).setSpeed(5)
                    .setEngineConfig(EngineConfig.newBuilder().setTpSize(1).setBlockSize(64).setNumGpuBlocks(100)))
                    .build());
            return this;
        }
    }

    private NodeSnapshot node() {
        return registry.node(URL).orElseThrow();
    }

    @Test
    void register_addsAttachedHealthyNode_andAcknowledges() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_PREFILL, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> !agent.received.isEmpty());
        assertThat(agent.received.getFirst().getRegistered().getNodeId()).isEqualTo(URL);
        assertThat(agent.received.getFirst().getRegistered().getLoadReportIntervalMs()).isEqualTo(1000);
        NodeSnapshot n = node();
        assertThat(n.role()).isEqualTo(EngineRole.PREFILL);
        assertThat(n.attached()).isTrue();
        assertThat(n.health()).isEqualTo(Health.HEALTHY);
        assertThat(n.speed()).isEqualTo(5);
        assertThat(n.engineConfig().orElseThrow().blockSize()).isEqualTo(64);
    }

    @Test
    void loadReports_updateTheNode() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        agent.send.onNext(AgentMessage.newBuilder().setLoad(AgentLoadReport.newBuilder()
                .setRunning(3).setWaiting(1).setKvBlocksUsed(40).setKvBlocksFree(60).setTokensPerSecond(99.5)).build());
        await().atMost(Duration.ofSeconds(5)).until(() -> node().load().map(l -> l.running() == 3).orElse(false));
        assertThat(node().load().orElseThrow().kvUsage()).isEqualTo(0.4);
    }

    @Test
    void weightsVersion_ofTheRegistrationAndOfLoadReports_reachesTheNode() {
        Agent agent = new Agent();
        agent.send.onNext(AgentMessage.newBuilder().setRegister(AgentRegistration.newBuilder()
                .setUrl(URL).setRole(io.tandem.proto.EngineRole.ENGINE_ROLE_HYBRID).addModels("m")
                .setClusterToken("s3cret").setWeightsVersion("base")).build());
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.node(URL)
                .flatMap(NodeSnapshot::weightsVersion).orElse("").equals("base"));
        agent.send.onNext(AgentMessage.newBuilder().setLoad(AgentLoadReport.newBuilder().setRunning(1)
                .setWeightsVersion("v2")).build());
        await().atMost(Duration.ofSeconds(5)).until(() -> node().weightsVersion().orElse("").equals("v2"));
        agent.send.onNext(AgentMessage.newBuilder().setLoad(AgentLoadReport.newBuilder().setRunning(2)).build());
        await().atMost(Duration.ofSeconds(5)).until(() -> node().load().map(l -> l.running() == 2).orElse(false));
        assertThat(node().weightsVersion()).as("a report naming none changes nothing").contains("v2");
    }

    @Test
    void brokenStream_marksNodeDownAtOnce() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> registry.node(URL).isPresent());
        agent.send.onError(Status.CANCELLED.asRuntimeException());
        await().atMost(Duration.ofSeconds(5)).until(() -> node().health() == Health.UNHEALTHY);
        assertThat(node().attached()).isFalse();
        assertThat(node().isRoutable(clock.instant())).isFalse();
        assertThat(service.streamsBroken()).isEqualTo(1);
    }

    @Test
    void firstMessageNotRegister_isInvalidArgument() {
        Agent agent = new Agent();
        agent.send.onNext(AgentMessage.newBuilder().setLoad(AgentLoadReport.getDefaultInstance()).build());
        assertThat(agent.ended.join().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(registry.nodes()).isEmpty();
    }

    @Test
    void wrongToken_isUnauthenticated() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "guess");
        assertThat(agent.ended.join().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
    }

    @Test
    void missingRole_isInvalidArgument_withPreciseMessage() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_UNSPECIFIED, "s3cret");
        Status status = agent.ended.join();
        assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(status.getDescription()).contains("role: 0");
    }

    @Test
    void roleConflict_isFailedPrecondition() {
        registry.add(NodeSpec.of(URL, EngineRole.HYBRID, List.of("m"))).join();
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        assertThat(agent.ended.join().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(service.isAttached(URL)).isFalse();
    }

    @Test
    void newerStream_replacesOlder_andNodeStaysUp() {
        Agent first = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        Agent second = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        assertThat(first.ended.join().getCode()).isEqualTo(Status.Code.ABORTED);
        await().atMost(Duration.ofSeconds(5)).until(() -> !second.received.isEmpty());
        assertThat(node().health()).isEqualTo(Health.HEALTHY);
        assertThat(node().attached()).isTrue();
        assertThat(service.streamsBroken()).isZero();
    }

    @Test
    void commands_roundTrip_okAndFailure() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_PREFILL, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> service.isAttached(URL));
        service.sendCommand(URL, new NodeCommand.Drain(Duration.ofSeconds(30)), Duration.ofSeconds(5)).join();
        var sent = agent.received.stream().filter(ControllerMessage::hasCommand).findFirst().orElseThrow().getCommand();
        assertThat(sent.getDrain().getDeadlineMs()).isEqualTo(30_000);
        service.sendCommand(URL, new NodeCommand.Undrain(), Duration.ofSeconds(5)).join();
        assertThat(agent.received.stream().filter(ControllerMessage::hasCommand).map(ControllerMessage::getCommand)
                .filter(c -> c.hasUndrain()).count()).isEqualTo(1);

        agent.answerOk = false;
        assertThatThrownBy(() -> service.sendCommand(URL, new NodeCommand.FreeCache(42), Duration.ofSeconds(5)).join())
                .cause().isInstanceOf(CommandFailedException.class).hasMessageContaining("busy");
    }

    private static List<io.tandem.proto.AgentCommand> commands(Agent agent) {
        return agent.received.stream().filter(ControllerMessage::hasCommand).map(ControllerMessage::getCommand).toList();
    }

    @Test
    void drainedAndSleepingAgent_reattaching_isToldItsStateAgain() {
        Agent first = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> service.isAttached(URL));
        assertThat(commands(first)).as("a first attach of a node in no special state is told nothing").isEmpty();
        registry.apply(new NodeEvent.DrainSet(URL, true)).join();
        registry.apply(new NodeEvent.SleepSet(URL, 2)).join();
        first.send.onError(Status.UNAVAILABLE.asRuntimeException());
        await().atMost(Duration.ofSeconds(5)).until(() -> !node().attached());

        Agent again = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> commands(again).size() == 2);
        assertThat(again.received.getFirst().hasRegistered()).as("the registration answer comes first").isTrue();
        assertThat(commands(again).get(0).hasDrain()).isTrue();
        assertThat(commands(again).get(0).getDrain().getDeadlineMs()).isZero();
        assertThat(commands(again).get(1).getSleep().getLevel()).isEqualTo(2);
        assertThat(node().draining()).isTrue();
        assertThat(node().isRoutable(clock.instant())).as("back attached and healthy, but still drained").isFalse();
    }

    @Test
    void reattachingAgent_undrainedWhileDetached_isToldToUndrain() {
        Agent first = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> service.isAttached(URL));
        registry.apply(new NodeEvent.DrainSet(URL, true)).join();
        first.send.onError(Status.UNAVAILABLE.asRuntimeException());
        await().atMost(Duration.ofSeconds(5)).until(() -> !node().attached());
        registry.apply(new NodeEvent.DrainSet(URL, false)).join();

        Agent again = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> commands(again).size() == 1);
        assertThat(commands(again).getFirst().hasUndrain()).isTrue();
        assertThat(node().isRoutable(clock.instant())).isTrue();
    }

    @Test
    void commandToNodeWithoutStream_isNodeUnavailable() {
        assertThatThrownBy(() -> service.sendCommand(URL, new NodeCommand.Sleep(1), Duration.ofSeconds(1)).join())
                .cause().isInstanceOf(NodeUnavailableException.class).hasMessageContaining("no control stream");
    }

    @Test
    void shutdown_endsStreamsWithUnavailable() {
        Agent agent = new Agent().register(io.tandem.proto.EngineRole.ENGINE_ROLE_PREFILL, "s3cret");
        await().atMost(Duration.ofSeconds(5)).until(() -> service.isAttached(URL));
        service.shutdown();
        assertThat(agent.ended.join().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    }
}
