package io.tandem.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.controller.grpc.NodeCommand;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeStatus;
import io.tandem.controller.routing.StrategyName;
import io.tandem.controller.testing.FakeAgent;
import io.tandem.controller.testing.FakeClock;
import io.tandem.controller.testing.FakeConsul;
import io.tandem.controller.testing.ManualScheduler;

class ControllerTest {
    private final FakeClock clock = new FakeClock();
    private final ManualScheduler scheduler = new ManualScheduler();
    private FakeAgent prefill;
    private FakeAgent decode;
    private FakeAgent hybrid;
    private Controller controller;

    @BeforeEach
    void start() throws IOException {
        prefill = new FakeAgent();
        decode = new FakeAgent();
        hybrid = new FakeAgent();
    }

    @AfterEach
    void stop() {
        if (controller != null) {
            controller.close();
        }
        prefill.close();
        decode.close();
        hybrid.close();
    }

    private Controller controller(Path stateFile) {
        Controller.Builder b = Controller.builder().clock(clock).scheduler(scheduler).random(new Random(1))
                .prefillStrategy(StrategyName.LEAST_LOADED).decodeStrategy(StrategyName.POWER_OF_TWO);
        if (stateFile != null) {
            b.stateFile(stateFile);
        }
        return b.build();
    }

    private static NodeStatus status(EngineRole role, String... models) {
        return new NodeStatus(role, List.of(models), null, 0, List.of());
    }

    @Test
    void withConsul_agentsInTheCatalogJoinThePool_andLeaveWhenTheirCheckGoesCritical() throws IOException {
        try (FakeConsul consul = new FakeConsul()) {
            consul.catalog(FakeConsul.instance("d1", "10.0.0.6", 23333, "role=decode", "model=m"));
            controller = Controller.builder().clock(clock).scheduler(scheduler)
                    .consul(consul.url(), "tandem-agent", Duration.ofSeconds(1)).build();
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                    .until(() -> controller.node("http://10.0.0.6:23333").isPresent());
            assertThat(controller.node("http://10.0.0.6:23333").orElseThrow().source()).isEqualTo(NodeSource.CONSUL);
            consul.catalog(FakeConsul.instance(false, "d1", "10.0.0.6", 23333, "role=decode", "model=m"));
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> controller.nodes().isEmpty());
            assertThat(consul.requests()).anyMatch(r -> r.contains("index=") && r.contains("wait=1s"));
        }
    }

    @Test
    void onNodeRemoved_tellsTheListenerTheUrl() {
        controller = controller(null);
        List<String> removed = new java.util.concurrent.CopyOnWriteArrayList<>();
        controller.onNodeRemoved(removed::add);
        controller.addNode(hybrid.url(), status(EngineRole.HYBRID, "m")).join();
        controller.removeNode(hybrid.url()).join();
        assertThat(removed).containsExactly(hybrid.url());
    }

    @Test
    void hybridPick_countsUnfinished_andRecordLatencySettlesIt() {
        controller = controller(null);
        controller.addNode(hybrid.url(), status(EngineRole.HYBRID, "m")).join();
        Route route = controller.pick("m", RoutingMode.HYBRID, "hello").join();
        assertThat(route).isInstanceOf(Route.Hybrid.class);
        assertThat(route.nodeUrls()).containsExactly(hybrid.url());
        // Counted on the owner thread after the pick returned (events apply in order, so this cannot miss it).
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> controller.status().get(hybrid.url()).unfinished() == 1);

        controller.recordLatency(hybrid.url(), Duration.ofMillis(250));
        NodeStatus s = controller.status().get(hybrid.url());
        assertThat(s.unfinished()).isZero();
        assertThat(s.latency()).containsExactly(0.25);
        assertThat(controller.models()).containsExactly("m");
    }

    @Test
    void distServePick_connectsThePairOnce_andReusesIt() {
        controller = controller(null);
        controller.addNode(prefill.url(), status(EngineRole.PREFILL, "m")).join();
        controller.addNode(decode.url(), status(EngineRole.DECODE, "m")).join();
        Route.Disaggregated first = (Route.Disaggregated) controller.pick("m", RoutingMode.DISTSERVE, "x").join();
        Route.Disaggregated second = (Route.Disaggregated) controller.pick("m", RoutingMode.DISTSERVE, "y").join();
        assertThat(first.prefill().url()).isEqualTo(prefill.url());
        assertThat(first.decode().url()).isEqualTo(decode.url());
        assertThat(second.pair().key()).isEqualTo(first.pair().key());
        assertThat(prefill.calls("/distserve/p2p_initialize")).hasSize(1);
        assertThat(controller.metrics().connectedPairs()).isEqualTo(1);
    }

    @Test
    void distServePick_triesAnotherDecode_whenThePairFails() throws IOException {
        try (FakeAgent broken = new FakeAgent()) {
            broken.fail("/distserve/p2p_initialize", 500, 100);
            controller = controller(null);
            controller.addNode(prefill.url(), status(EngineRole.PREFILL, "m")).join();
            controller.addNode(broken.url(), new NodeStatus(EngineRole.DECODE, List.of("m"), 1000, 0, List.of())).join();
            controller.addNode(decode.url(), status(EngineRole.DECODE, "m")).join();
            for (int i = 0; i < 5; i++) {
                Route.Disaggregated r = (Route.Disaggregated) controller.pick("m", RoutingMode.DISTSERVE, "").join();
                assertThat(r.decode().url()).isEqualTo(decode.url());
            }
        }
    }

    @Test
    void pickFailures_areTyped() {
        controller = controller(null);
        controller.addNode(prefill.url(), status(EngineRole.PREFILL, "m")).join();
        assertThatThrownBy(() -> controller.pick("nope", RoutingMode.DISTSERVE, "").join())
                .cause().isInstanceOf(UnknownModelException.class);
        assertThatThrownBy(() -> controller.pick("m", RoutingMode.DISTSERVE, "").join())
                .cause().isInstanceOf(NoHealthyNodeException.class).hasMessageContaining("decode");
        assertThat(controller.metrics().pickFailures()).isEqualTo(2);
    }

    @Test
    void failedHealthCheck_takesNodeOutOfRotation_onTheNextRound() {
        controller = controller(null);
        controller.addNode(hybrid.url(), status(EngineRole.HYBRID, "m")).join();
        controller.checkHealthNow().join();
        hybrid.healthStatus(503);
        controller.checkHealthNow().join();
        assertThatThrownBy(() -> controller.pick("m", RoutingMode.HYBRID, "").join())
                .cause().isInstanceOf(NoHealthyNodeException.class);
        hybrid.healthStatus(200);
        controller.checkHealthNow().join();
        assertThat(controller.pick("m", RoutingMode.HYBRID, "").join().nodeUrls()).containsExactly(hybrid.url());
    }

    @Test
    void markFailure_countsIntoBreaker_nodeLeavesOnlyAfterRepeatedFailures_andRetryExcludesIt() throws IOException {
        try (FakeAgent other = new FakeAgent()) {
            controller = controller(null);
            controller.addNode(hybrid.url(), status(EngineRole.HYBRID, "m")).join();
            controller.addNode(other.url(), status(EngineRole.HYBRID, "m")).join();
            controller.checkHealthNow().join(); // the probes started by addNode have reported
            String first = controller.pick("m", RoutingMode.HYBRID, "").join().nodeUrls().getFirst();
            Route retry = controller.pick(PickRequest.of("m", RoutingMode.HYBRID, "").excluding(Set.of(first))).join();
            assertThat(retry.nodeUrls()).doesNotContain(first);
            controller.markFailure(first, "connection reset").join();
            assertThat(controller.node(first).orElseThrow().isRoutable(clock.instant()))
                    .as("one transport failure under load must not eject a node").isTrue();
            controller.markFailure(first, "connection reset").join();
            controller.markFailure(first, "connection reset").join(); // the default threshold: 3 within 30 s
            assertThat(controller.node(first).orElseThrow().isRoutable(clock.instant())).isFalse();
        }
    }

    @Test
    void markFailure_onTheOnlyNode_keepsItRoutable() {
        controller = controller(null);
        controller.addNode(hybrid.url(), status(EngineRole.HYBRID, "m")).join();
        controller.pick("m", RoutingMode.HYBRID, "").join();
        controller.markFailure(hybrid.url(), "HTTP/1.1 header parser received no bytes").join();
        assertThat(controller.status().get(hybrid.url()).unfinished()).isZero();
        assertThat(controller.pick("m", RoutingMode.HYBRID, "").join().nodeUrls()).containsExactly(hybrid.url());
    }

    @Test
    void removeNode_dropsItsPairsOnBothSides_andFreesSessionsThatWaitedForIt() {
        controller = controller(null);
        controller.addNode(prefill.url(), status(EngineRole.PREFILL, "m")).join();
        controller.addNode(decode.url(), status(EngineRole.DECODE, "m")).join();
        controller.connectionWarmup().join();
        long session = controller.newSessionId();
        // Engines read session ids as JSON numbers: they must survive a double.
        org.assertj.core.api.Assertions.assertThat(session).isPositive().isLessThan(1L << 53);
        org.assertj.core.api.Assertions.assertThat(controller.newSessionId()).isEqualTo(session + 1);
        controller.trackSession(session, prefill.url(), decode.url()).join();

        controller.removeNode(decode.url()).join();
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> !prefill.calls("/distserve/free_cache").isEmpty()
                        && !prefill.calls("/distserve/p2p_drop_connect").isEmpty());
        assertThat(prefill.calls("/distserve/free_cache").getFirst().body().get("remote_session_id").asLong())
                .isEqualTo(session);
        assertThat(decode.calls("/distserve/p2p_drop_connect")).isNotEmpty();
        assertThat(controller.pairs()).isEmpty();
    }

    @Test
    void gc_freesSessionsPastTheirLease() {
        controller = controller(null);
        controller.trackSession(5, prefill.url(), decode.url()).join();
        assertThat(controller.gc().join()).isEmpty();
        clock.advance(Duration.ofSeconds(61));
        scheduler.run("session-gc");
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> controller.metrics().sessionsFreed() == 1);
        assertThat(prefill.calls("/distserve/free_cache")).hasSize(1);
        assertThat(controller.gc().join()).isEmpty();
    }

    @Test
    void warmup_reportsEveryPair() {
        controller = controller(null);
        controller.addNode(prefill.url(), status(EngineRole.PREFILL, "m")).join();
        controller.addNode(decode.url(), status(EngineRole.DECODE, "m")).join();
        controller.addNode(hybrid.url(), status(EngineRole.DECODE, "m")).join();
        var report = controller.connectionWarmup().join();
        assertThat(report).hasSize(2).allMatch(r -> r.connected());
    }

    @Test
    void nodeList_survivesRestart(@TempDir Path dir) {
        Path file = dir.resolve("state/nodes.json");
        controller = controller(file);
        controller.addNode(prefill.url(), status(EngineRole.PREFILL, "m")).join();
        controller.addNode(decode.url(), status(EngineRole.DECODE, "m")).join();
        controller.removeNode(decode.url()).join();
        controller.close();

        controller = controller(file);
        assertThat(controller.nodes()).extracting(NodeSnapshot::url).containsExactly(prefill.url());
        assertThat(controller.status().get(prefill.url()).role()).isEqualTo(EngineRole.PREFILL);
    }

    @Test
    void commandToHttpOnlyNode_isNodeUnavailable_butDrainStillTakesItOut() {
        controller = controller(null);
        controller.addNode(hybrid.url(), status(EngineRole.HYBRID, "m")).join();
        assertThatThrownBy(() -> controller.sendCommand(hybrid.url(), new NodeCommand.Sleep(1)).join())
                .cause().isInstanceOf(NodeUnavailableException.class);
        assertThat(controller.drain(hybrid.url(), Duration.ZERO).join().draining()).isTrue();
        assertThatThrownBy(() -> controller.pick("m", RoutingMode.HYBRID, "").join())
                .cause().isInstanceOf(NoHealthyNodeException.class);
        controller.undrain(hybrid.url()).join();
        assertThat(controller.pick("m", RoutingMode.HYBRID, "").join()).isInstanceOf(Route.Hybrid.class);
    }

    @Test
    void builder_rejectsBadDurations_withPreciseMessages() {
        assertThatThrownBy(() -> Controller.builder().healthInterval(Duration.ZERO))
                .hasMessage("healthInterval: PT0S (expected: > 0)");
        assertThatThrownBy(() -> Controller.builder().grpcPort(70000))
                .hasMessage("grpcPort: 70000 (expected: 0..65535)");
        assertThat(PairingFailedException.class).isNotNull();
    }
}
