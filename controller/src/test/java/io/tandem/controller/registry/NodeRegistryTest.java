package io.tandem.controller.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.health.CircuitState;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.registry.NodeEvent.HealthReport;
import io.tandem.controller.registry.NodeEvent.LoadReport;
import io.tandem.controller.registry.NodeEvent.StreamAttached;
import io.tandem.controller.registry.NodeEvent.StreamBroken;
import io.tandem.controller.registry.NodeEvent.Tick;
import io.tandem.controller.testing.FakeClock;

class NodeRegistryTest {
    private static final String P = "http://10.0.0.1:23333";
    private static final String D = "http://10.0.0.2:23333";

    private final FakeClock clock = new FakeClock();
    private final EventLoop loop = new EventLoop("test-events");
    private NodeRegistry registry = new NodeRegistry(loop, RegistryConfig.defaults(clock));

    @AfterEach
    void close() {
        loop.close();
    }

    @Test
    void addedNodes_listInOrder_withLmdeployStatus() {
        registry.add(NodeSpec.of(D + "/", EngineRole.DECODE, List.of("m"))).join();
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        assertThat(registry.nodes()).extracting(NodeSnapshot::url).containsExactly(D, P);
        NodeStatus status = registry.node(D).orElseThrow().status();
        assertThat(status).isEqualTo(new NodeStatus(EngineRole.DECODE, List.of("m"), null, 0, List.of()));
    }

    @Test
    void canonicalUrl_knownKeyAsIs_otherSpellingsNormalized_badOnesRefused() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        assertThat(registry.canonicalUrl(P)).isSameAs(P);
        assertThat(registry.canonicalUrl(P.toUpperCase(java.util.Locale.ROOT) + "/")).isEqualTo(P);
        assertThatThrownBy(() -> registry.canonicalUrl("not a url")).isInstanceOf(InvalidNodeException.class);
    }

    @Test
    void addExisting_updatesDescription_keepsRuntimeState() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("a"))).join();
        registry.requestStarted(P);
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("a", "b"))).join();
        NodeSnapshot n = registry.node(P).orElseThrow();
        assertThat(n.models()).containsExactly("a", "b");
        assertThat(n.unfinished()).isEqualTo(1);
    }

    @Test
    void removeUnknown_failsWithNodeNotFound() {
        assertThatThrownBy(() -> registry.remove(P).join())
                .isInstanceOf(CompletionException.class).hasCauseInstanceOf(NodeNotFoundException.class);
    }

    @Test
    void removal_notifiesListeners() {
        List<String> removed = new ArrayList<>();
        registry.addListener(new RegistryListener() {
            @Override
            public void nodeRemoved(NodeSnapshot node) {
                removed.add(node.url());
            }
        });
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        registry.remove(P).join();
        assertThat(removed).containsExactly(P);
        assertThat(registry.nodes()).isEmpty();
    }

    @Test
    void failedHealthCheck_takesNodeOutAtOnce_andSuccessBringsItBack() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        assertThat(registry.node(P).orElseThrow().isRoutable(clock.instant())).isTrue();
        registry.apply(new HealthReport(P, false, "refused")).join();
        NodeSnapshot down = registry.node(P).orElseThrow();
        assertThat(down.health()).isEqualTo(Health.UNHEALTHY);
        assertThat(down.healthReason()).isEqualTo("refused");
        assertThat(down.isRoutable(clock.instant())).isFalse();
        registry.apply(new HealthReport(P, true, "")).join();
        assertThat(registry.node(P).orElseThrow().isRoutable(clock.instant())).isTrue();
    }

    @Test
    void probeTimeout_onANodeAnsweringRequests_doesNotEjectIt_butAnIdleOneOrARefusalDoes() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        registry.apply(new HealthReport(P, true, "")).join();
        registry.requestStarted(P);
        registry.requestFinished(P, Duration.ofMillis(3));
        registry.apply(new HealthReport(P, false, "timed out", true)).join();
        assertThat(registry.node(P).orElseThrow().isRoutable(clock.instant())).as("busy, not dead").isTrue();

        registry.apply(new HealthReport(P, false, "refused", false)).join();
        assertThat(registry.node(P).orElseThrow().isRoutable(clock.instant())).as("refused: out at once").isFalse();
        registry.apply(new HealthReport(P, true, "")).join();

        clock.advance(Duration.ofSeconds(10)); // no request finished lately: two timeouts in a row mean a hung node
        registry.apply(new HealthReport(P, false, "timed out", true)).join();
        assertThat(registry.node(P).orElseThrow().health()).isEqualTo(Health.HEALTHY);
        registry.apply(new HealthReport(P, false, "timed out", true)).join();
        assertThat(registry.node(P).orElseThrow().health()).isEqualTo(Health.UNHEALTHY);
    }

    @Test
    void probeTimeout_onANewNode_keepsItRoutable_untilASecondOneInARow() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        clock.advance(Duration.ofSeconds(10));
        registry.apply(new HealthReport(P, false, "timed out", true)).join();
        NodeSnapshot n = registry.node(P).orElseThrow();
        assertThat(n.health()).isEqualTo(Health.UNKNOWN);
        assertThat(n.isRoutable(clock.instant())).as("one slow first probe").isTrue();
        registry.apply(new HealthReport(P, false, "timed out", true)).join();
        assertThat(registry.node(P).orElseThrow().health()).isEqualTo(Health.UNHEALTHY);
    }

    @Test
    void requestFailures_openTheBreakerOnlyAtTheThreshold() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        registry.apply(new HealthReport(P, true, "")).join();
        registry.apply(new NodeEvent.RequestFailed(P, "reset")).join();
        registry.apply(new NodeEvent.RequestFailed(P, "reset")).join();
        assertThat(registry.node(P).orElseThrow().isRoutable(clock.instant())).isTrue();
        registry.apply(new NodeEvent.RequestFailed(P, "reset")).join();
        assertThat(registry.node(P).orElseThrow().circuit()).isEqualTo(CircuitState.OPEN);
        assertThat(registry.node(P).orElseThrow().isRoutable(clock.instant())).isFalse();
    }

    @Test
    void flappingNode_keptOutByCircuitBreaker_untilOpenPeriodPasses() {
        registry.add(NodeSpec.of(P, EngineRole.PREFILL, List.of("m"))).join();
        for (int i = 0; i < 3; i++) {
            registry.apply(new HealthReport(P, false, "refused")).join();
            registry.apply(new HealthReport(P, true, "")).join();
        }
        NodeSnapshot n = registry.node(P).orElseThrow();
        assertThat(n.health()).isEqualTo(Health.HEALTHY);
        assertThat(n.circuit()).isEqualTo(CircuitState.OPEN);
        assertThat(n.isRoutable(clock.instant())).isFalse();
        assertThat(n.isRoutable(clock.instant().plusSeconds(2))).isTrue();
    }

    @Test
    void streamNode_isHealthyOnAttach_downAtOnceWhenStreamBreaks() {
        registry.apply(new StreamAttached(NodeSpec.of(D, EngineRole.DECODE, List.of("m")))).join();
        NodeSnapshot up = registry.node(D).orElseThrow();
        assertThat(up.attached()).isTrue();
        assertThat(up.health()).isEqualTo(Health.HEALTHY);
        assertThat(up.source()).isEqualTo(NodeSource.STREAM);
        registry.apply(new StreamBroken(D, "RST")).join();
        NodeSnapshot down = registry.node(D).orElseThrow();
        assertThat(down.attached()).isFalse();
        assertThat(down.isRoutable(clock.instant())).isFalse();
        assertThat(down.healthReason()).contains("control stream broken");
    }

    @Test
    void attachWithOtherRole_isAConflict() {
        registry.add(NodeSpec.of(D, EngineRole.DECODE, List.of("m"))).join();
        assertThatThrownBy(() -> registry.apply(new StreamAttached(NodeSpec.of(D, EngineRole.PREFILL, List.of("m")))).join())
                .hasCauseInstanceOf(NodeConflictException.class);
    }

    @Test
    void attachedNode_ignoresHttpProbes_andGoesDownWhenSilent() {
        registry.apply(new StreamAttached(NodeSpec.of(D, EngineRole.DECODE, List.of("m")))).join();
        registry.apply(new HealthReport(D, false, "probe")).join();
        assertThat(registry.node(D).orElseThrow().health()).isEqualTo(Health.HEALTHY);
        clock.advance(Duration.ofSeconds(2));
        registry.apply(new LoadReport(D, 2, 1, 30, 70, 12.5)).join();
        NodeLoad load = registry.node(D).orElseThrow().load().orElseThrow();
        assertThat(load.running()).isEqualTo(2);
        assertThat(load.kvUsage()).isEqualTo(0.3);
        clock.advance(Duration.ofSeconds(3));
        registry.apply(new Tick()).join();
        assertThat(registry.node(D).orElseThrow().health()).isEqualTo(Health.HEALTHY);
        clock.advance(Duration.ofMillis(1));
        registry.apply(new Tick()).join();
        assertThat(registry.node(D).orElseThrow().health()).isEqualTo(Health.UNHEALTHY);
        assertThat(registry.node(D).orElseThrow().healthReason()).contains("no load report");
    }

    @Test
    void detachedStreamNode_expiresAfterLongDowntime() {
        registry.apply(new StreamAttached(NodeSpec.of(D, EngineRole.DECODE, List.of("m")))).join();
        registry.apply(new StreamBroken(D, "gone")).join();
        clock.advance(Duration.ofMinutes(11));
        registry.apply(new Tick()).join();
        assertThat(registry.nodes()).isEmpty();
    }

    @Test
    void latencyWindow_keepsLast15_andUnfinishedBalances() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        NodeSnapshot n = registry.node(P).orElseThrow();
        for (int i = 1; i <= 20; i++) {
            registry.requestStarted(P);
            assertThat(n.unfinished()).as("counters are live in every snapshot").isEqualTo(1);
            registry.requestFinished(P, Duration.ofMillis(i * 100L));
        }
        assertThat(n.latencies()).hasSize(15).first().isEqualTo(0.6);
        assertThat(n.unfinished()).isZero();
        assertThat(n.meanLatencySeconds()).isCloseTo(1.3, org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void settlingOnAClosedStableBreaker_queuesNoEvent() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new Tick()).join();
        long before = registry.eventsApplied();
        for (int i = 0; i < 100; i++) {
            registry.requestStarted(P);
            registry.requestFinished(P, Duration.ofMillis(1));
        }
        registry.apply(new Tick()).join(); // applied after anything the loop above queued
        assertThat(registry.eventsApplied()).as("only the tick").isEqualTo(before + 1);
        assertThat(registry.node(P).orElseThrow().unfinished()).isZero();
    }

    @Test
    void failures_lowerUnfinishedAtOnce_openTheBreaker_andASuccessClosesItWhenHalfOpen() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        int threshold = RegistryConfig.defaults(clock).circuitBreaker().failureThreshold();
        for (int i = 0; i < threshold; i++) {
            registry.requestStarted(P);
            CompletableFuture<Object> failed = registry.requestFailed(P, "HTTP 502");
            assertThat(registry.node(P).orElseThrow().unfinished()).as("lowered before the event").isZero();
            failed.join();
        }
        NodeSnapshot open = registry.node(P).orElseThrow();
        assertThat(open.circuit()).isEqualTo(CircuitState.OPEN);
        assertThat(open.isRoutable(clock.instant())).isFalse();

        clock.advance(RegistryConfig.defaults(clock).circuitBreaker().openBackoff().initial().plusMillis(1));
        registry.apply(new Tick()).join();
        assertThat(registry.node(P).orElseThrow().circuit()).isEqualTo(CircuitState.HALF_OPEN);
        registry.requestStarted(P);
        registry.requestFinished(P, Duration.ofMillis(2)); // the trial request: the breaker must hear it
        registry.apply(new Tick()).join();
        assertThat(registry.node(P).orElseThrow().circuit()).isEqualTo(CircuitState.CLOSED);
    }

    @Test
    void stateFile_survivesRestart(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("nodes.json");
        registry = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        var config = new DistServeEngineConfig(1, 1, 1, 1, 0, 64, 0, 512);
        registry.add(new NodeSpec(P, EngineRole.PREFILL, List.of("m"), 7, Optional.of(config), NodeSource.STATIC)).join();
        registry.apply(new StreamAttached(NodeSpec.of(D, EngineRole.DECODE, List.of("m")))).join();
        registry.add(NodeSpec.of("http://10.0.0.3:1", EngineRole.DECODE, List.of("m")).withSource(NodeSource.CONSUL)).join();
        assertThat(Files.readString(file)).contains("\"role\" : 2").contains("\"block_size\" : 64");

        NodeRegistry restarted = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        assertThat(restarted.loadState().join()).isEqualTo(2);
        assertThat(restarted.nodes()).extracting(NodeSnapshot::url).containsExactly(P, D);
        NodeSnapshot p = restarted.node(P).orElseThrow();
        assertThat(p.speed()).isEqualTo(7);
        assertThat(p.engineConfig()).contains(config);
        assertThat(p.health()).isEqualTo(Health.UNKNOWN);
        assertThat(restarted.node(D).orElseThrow().attached()).isFalse();

        restarted.remove(P).join();
        NodeRegistry again = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        assertThat(again.loadState().join()).isEqualTo(1);
    }

    @Test
    void stateFile_keepsDrainAndSleepMarks_acrossRestart(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("nodes.json");
        registry = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.add(NodeSpec.of(D, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new NodeEvent.DrainSet(P, true)).join();
        registry.apply(new NodeEvent.SleepSet(D, 2)).join();

        NodeRegistry restarted = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        restarted.loadState().join();
        assertThat(restarted.node(P).orElseThrow().draining()).isTrue();
        assertThat(restarted.node(P).orElseThrow().isRoutable(clock.instant())).isFalse();
        assertThat(restarted.node(D).orElseThrow().sleepLevel()).isEqualTo(2);

        restarted.apply(new NodeEvent.DrainSet(P, false)).join();
        NodeRegistry again = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        again.loadState().join();
        assertThat(again.node(P).orElseThrow().isRoutable(clock.instant())).as("undrained before the restart").isTrue();
    }

    @Test
    void stateFile_withoutMarks_readsAsNeitherDrainedNorAsleep(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("nodes.json");
        Files.writeString(file, "{\"version\":1,\"nodes\":[{\"url\":\"" + P + "\",\"role\":1,\"models\":[\"m\"]}]}");
        registry = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        assertThat(registry.loadState().join()).isEqualTo(1);
        assertThat(registry.node(P).orElseThrow().draining()).isFalse();
        assertThat(registry.node(P).orElseThrow().sleepLevel()).isZero();
    }

    @Test
    void corruptStateFile_isMovedAside_andPoolStartsEmpty(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("nodes.json");
        Files.writeString(file, "{not json");
        registry = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        assertThat(registry.loadState().join()).isZero();
        assertThat(dir.resolve("nodes.json.corrupt")).exists();
    }

    @Test
    void badUrl_isRejectedWithPreciseMessage() {
        assertThatThrownBy(() -> NodeSpec.of("ftp://x", EngineRole.HYBRID, List.of("m")))
                .hasMessageContaining("url: 'ftp://x' (expected: http://host:port)");
        assertThat(NodeSpec.normalizeUrl("HTTP://Host:80/")).isEqualTo("http://host:80");
    }

    private boolean routable(String url) {
        return registry.node(url).orElseThrow().isRoutable(clock.instant());
    }

    @Test
    void weightsCommitted_thenAnotherVersionReported_isStaleAndOutOfRotation_untilTheCommittedOneIsBack() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new NodeEvent.WeightsReported(P, "base")).join();
        assertThat(registry.node(P).orElseThrow().staleWeights()).as("no commit yet: nothing expected").isFalse();
        registry.apply(new NodeEvent.WeightsCommitted(P, "v1")).join();
        NodeSnapshot n = registry.node(P).orElseThrow();
        assertThat(n.weightsVersion()).contains("v1");
        assertThat(n.expectedWeights()).contains("v1");
        assertThat(routable(P)).isTrue();

        registry.apply(new NodeEvent.WeightsReported(P, "base")).join(); // the agent restarted
        assertThat(registry.node(P).orElseThrow().staleWeights()).isTrue();
        assertThat(routable(P)).isFalse();
        registry.apply(new NodeEvent.WeightsReported(P, "v1")).join();
        assertThat(routable(P)).isTrue();
    }

    @Test
    void healthReportNamingOtherWeights_leavesTheNodeOutOfRotation_inTheSameEvent() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new NodeEvent.WeightsCommitted(P, "v1")).join();
        registry.apply(new HealthReport(P, false, "refused")).join(); // the agent restarts
        registry.apply(new HealthReport(P, true, "", false, "base")).join();
        NodeSnapshot n = registry.node(P).orElseThrow();
        assertThat(n.health()).isEqualTo(Health.HEALTHY);
        assertThat(n.weightsVersion()).contains("base");
        assertThat(n.isRoutable(clock.instant())).isFalse();
    }

    @Test
    void nodeJoiningAfterACommitOfItsModel_mustServeThoseWeights_otherModelsNot() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new NodeEvent.WeightsCommitted(P, "v1")).join();
        registry.add(NodeSpec.of(D, EngineRole.HYBRID, List.of("m"))).join();
        String other = "http://10.0.0.3:23333";
        registry.add(NodeSpec.of(other, EngineRole.HYBRID, List.of("other"))).join();
        registry.apply(new NodeEvent.WeightsReported(D, "base")).join();
        registry.apply(new NodeEvent.WeightsReported(other, "base")).join();
        assertThat(registry.node(D).orElseThrow().expectedWeights()).contains("v1");
        assertThat(routable(D)).isFalse();
        assertThat(routable(other)).isTrue();
        // a node that never reports a version (not our agent) is never fenced
        String foreign = "http://10.0.0.4:23333";
        registry.add(NodeSpec.of(foreign, EngineRole.HYBRID, List.of("m"))).join();
        assertThat(routable(foreign)).isTrue();
    }

    @Test
    void weightsAccepted_putsAStaleNodeBackAsItIs() {
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new NodeEvent.WeightsCommitted(P, "v1")).join();
        registry.apply(new NodeEvent.WeightsReported(P, "base")).join();
        NodeSnapshot accepted = (NodeSnapshot) registry.apply(new NodeEvent.WeightsAccepted(P)).join();
        assertThat(accepted.expectedWeights()).contains("base");
        assertThat(routable(P)).isTrue();
        assertThatThrownBy(() -> registry.apply(new NodeEvent.WeightsAccepted(D)).join())
                .hasCauseInstanceOf(NodeNotFoundException.class);
    }

    @Test
    void stateFile_keepsWeightExpectations_acrossRestart(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("nodes.json");
        registry = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        registry.add(NodeSpec.of(P, EngineRole.HYBRID, List.of("m"))).join();
        registry.apply(new NodeEvent.WeightsCommitted(P, "v1")).join();
        NodeRegistry restarted = new NodeRegistry(loop, RegistryConfig.defaults(clock).withStateFile(file));
        assertThat(restarted.loadState().join()).isEqualTo(1);
        assertThat(restarted.node(P).orElseThrow().expectedWeights()).contains("v1");
        restarted.apply(new NodeEvent.WeightsReported(P, "base")).join();
        assertThat(restarted.node(P).orElseThrow().staleWeights()).isTrue();
        // the model's commit is remembered too: a node joining the restarted proxy's pool must serve it
        restarted.add(NodeSpec.of(D, EngineRole.HYBRID, List.of("m"))).join();
        assertThat(restarted.node(D).orElseThrow().expectedWeights()).contains("v1");
        assertThat(Files.readString(file)).contains("\"committed_weights\"").contains("\"expected_weights\"");
    }
}
