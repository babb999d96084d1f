package io.tandem.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.Health;
import io.tandem.controller.registry.NodeStatus;
import io.tandem.controller.testing.FakeAgent;
import io.tandem.proto.AgentLoadReport;
import io.tandem.proto.AgentMessage;
import io.tandem.proto.AgentRegistration;
import io.tandem.proto.ClusterControlGrpc;
import io.tandem.proto.ControllerMessage;

/**
 * The controller with its real timer, real HTTP probes and a real gRPC port on 127.0.0.1: the 2-second detection
 * target, measured.
 */
class ControllerIT {

    @Test
    void deadHttpNode_leavesRotationWithinTwoSeconds() throws Exception {
        FakeAgent agent = new FakeAgent();
        try (Controller controller = Controller.builder().build()) {
            controller.addNode(agent.url(), new NodeStatus(EngineRole.HYBRID, List.of("m"), null, 0, List.of())).join();
            await().atMost(Duration.ofSeconds(3)).until(() -> controller.node(agent.url()).orElseThrow().health() == Health.HEALTHY);

            agent.close();
            Instant died = Instant.now();
            await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
                    .until(() -> !controller.node(agent.url()).orElseThrow().isRoutable(Instant.now()));
            assertThat(Duration.between(died, Instant.now())).isLessThan(Duration.ofSeconds(2));
        } finally {
            agent.close();
        }
    }

    @Test
    void agentOnRealGrpcPort_isDownAtOnceWhenItsStreamBreaks() throws Exception {
        try (Controller controller = Controller.builder().grpcPort(0).clusterToken("t").build()) {
            ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", controller.grpcPort().orElseThrow(),
                    InsecureChannelCredentials.create()).build();
            try {
                StreamObserver<AgentMessage> send = ClusterControlGrpc.newStub(channel).attach(new StreamObserver<>() {
                    @Override
                    public void onNext(ControllerMessage value) {}

                    @Override
                    public void onError(Throwable t) {}

                    @Override
                    public void onCompleted() {}
                });
                String url = "http://127.0.0.1:1";
                send.onNext(AgentMessage.newBuilder().setRegister(AgentRegistration.newBuilder().setUrl(url)
                        .setRole(io.tandem.proto.EngineRole.ENGINE_ROLE_DECODE).addModels("m").setClusterToken("t")).build());
                send.onNext(AgentMessage.newBuilder().setLoad(AgentLoadReport.newBuilder().setRunning(1)).build());
                await().atMost(Duration.ofSeconds(5)).until(() -> controller.node(url)
                        .map(n -> n.attached() && n.load().map(l -> l.running() == 1).orElse(false)).orElse(false));

                channel.shutdownNow(); // the agent process dies: its TCP connection goes away
                await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(10))
                        .until(() -> controller.node(url).orElseThrow().health() == Health.UNHEALTHY);
                assertThat(controller.metrics().streamsBroken()).isEqualTo(1);
            } finally {
                channel.shutdownNow().awaitTermination(2, TimeUnit.SECONDS);
            }
        }
    }
}
