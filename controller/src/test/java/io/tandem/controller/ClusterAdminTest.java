package io.tandem.controller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import io.tandem.controller.NodeResult.Outcome;
import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeStatus;
import io.tandem.controller.testing.FakeAgent;
import io.tandem.controller.testing.FakeClock;
import io.tandem.controller.testing.ManualScheduler;

/** Cluster-wide weight updates, sleep and wake-up against fake nodes over real HTTP. */
@Timeout(60)
class ClusterAdminTest {
    private static final byte[] COMMIT = "{\"serialized_named_tensors\":\"QUJD\",\"finished\":true}"
            .getBytes(StandardCharsets.UTF_8);
    private static final Duration LONG = Duration.ofSeconds(30);

    private final FakeClock clock = new FakeClock();
    private FakeAgent a;
    private FakeAgent b;
    private FakeAgent c;
    private Controller controller;

    @BeforeEach
    void start() throws IOException {
        a = new FakeAgent();
        b = new FakeAgent();
        c = new FakeAgent();
        controller = Controller.builder().clock(clock).scheduler(new ManualScheduler()).nodeAdminKey("adm").build();
        for (FakeAgent n : List.of(a, b, c)) {
            controller.addNode(n.url(), new NodeStatus(EngineRole.HYBRID, List.of("m"), null, 0, List.of())).join();
        }
    }

    @AfterEach
    void stop() {
        controller.close();
        a.close();
        b.close();
        c.close();
    }

    private static WeightUpdate commit(boolean rolling) {
        return new WeightUpdate(Optional.of("m"), COMMIT, true, rolling, LONG);
    }

    private boolean routable(FakeAgent n) {
        return controller.node(n.url()).orElseThrow().isRoutable(clock.instant());
    }

    @Test
    void rollingCommit_updatesOneNodeAtATime_theOthersKeepServing() throws Exception {
        CountDownLatch gate = a.gate("/update_weights");
        CompletableFuture<List<NodeResult>> run = controller.updateWeights(commit(true));
        await().atMost(Duration.ofSeconds(5)).until(() -> a.calls("/update_weights").size() == 1);
        assertThat(routable(a)).as("drained while it updates").isFalse();
        assertThat(routable(b)).isTrue();
        assertThat(routable(c)).isTrue();
        assertThat(b.calls("/update_weights")).as("one at a time").isEmpty();
        Route meanwhile = controller.pick("m", RoutingMode.HYBRID, "x").join();
        assertThat(meanwhile.nodeUrls()).doesNotContain(a.url());
        controller.recordLatency(meanwhile.nodeUrls().getFirst(), Duration.ofMillis(5)); // settle it
        gate.countDown();

        List<NodeResult> results = run.get(20, TimeUnit.SECONDS);
        assertThat(results).extracting(NodeResult::outcome).containsOnly(Outcome.DONE);
        assertThat(results).extracting(NodeResult::inRotation).containsOnly(true);
        assertThat(a.calls("/update_weights").getFirst().seq()).isLessThan(b.calls("/update_weights").getFirst().seq());
        assertThat(b.calls("/update_weights").getFirst().seq()).isLessThan(c.calls("/update_weights").getFirst().seq());
        assertThat(c.calls("/update_weights").getFirst().body().get("finished").asBoolean()).isTrue();
        assertThat(List.of(a, b, c)).allMatch(this::routable);
    }

    @Test
    void commit_recordsTheWeightsVersionEachNodeAnswers_asWhatItMustServe() throws Exception {
        a.weightsVersion("v1");
        b.weightsVersion("v1");
        List<NodeResult> results = controller.updateWeights(commit(true)).get(20, TimeUnit.SECONDS);
        assertThat(results).extracting(NodeResult::outcome).containsOnly(Outcome.DONE);
        assertThat(controller.node(a.url()).orElseThrow().expectedWeights()).contains("v1");
        assertThat(controller.node(b.url()).orElseThrow().weightsVersion()).contains("v1");
        assertThat(controller.node(c.url()).orElseThrow().expectedWeights())
                .as("an answer naming no version (not our agent) sets no expectation").isEmpty();
        assertThat(List.of(a, b, c)).allMatch(this::routable);
    }

    @Test
    void commit_waitsForTheNodesRunningRequests() throws Exception {
        controller.removeNode(b.url()).join();
        controller.removeNode(c.url()).join();
        controller.pick("m", RoutingMode.HYBRID, "x").join(); // one request in flight on a
        await().atMost(Duration.ofSeconds(5)).until(() -> controller.node(a.url()).orElseThrow().unfinished() == 1);
        CompletableFuture<List<NodeResult>> run = controller.updateWeights(commit(true));
        await().atMost(Duration.ofSeconds(5)).until(() -> controller.node(a.url()).orElseThrow().draining());
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                .until(() -> a.calls("/update_weights").isEmpty()); // not while the request runs
        controller.recordLatency(a.url(), Duration.ofMillis(10));
        assertThat(run.get(20, TimeUnit.SECONDS).getFirst().idle()).contains(true);
        assertThat(a.calls("/update_weights")).hasSize(1);
    }

    @Test
    void rollingCommit_stopsAtTheFirstFailure_failedNodeLeftDrained_restKeepServing() throws Exception {
        b.fail("/update_weights", 500, 1);
        List<NodeResult> results = controller.updateWeights(commit(true)).get(20, TimeUnit.SECONDS);
        assertThat(results).as(results.toString()).extracting(NodeResult::outcome)
                .containsExactly(Outcome.DONE, Outcome.FAILED, Outcome.SKIPPED);
        assertThat(results.get(1).status()).isEqualTo(500);
        assertThat(results.get(1).detail()).contains("left drained");
        assertThat(results.get(1).inRotation()).isFalse();
        assertThat(routable(b)).isFalse();
        assertThat(c.calls("/update_weights")).isEmpty();
        assertThat(routable(a)).isTrue();
        assertThat(routable(c)).isTrue();
    }

    @Test
    void nodeRefusingTheBody_goesBackIntoRotation() throws Exception {
        a.fail("/update_weights", 400, 1);
        List<NodeResult> results = controller.updateWeights(commit(false)).get(20, TimeUnit.SECONDS);
        NodeResult first = results.getFirst();
        assertThat(first.outcome()).isEqualTo(Outcome.FAILED);
        assertThat(first.status()).isEqualTo(400);
        assertThat(first.detail()).contains("keeps its weights").contains("injected failure");
        assertThat(first.inRotation()).isTrue();
        assertThat(results.subList(1, 3)).extracting(NodeResult::outcome).containsOnly(Outcome.DONE);
    }

    @Test
    void allAtOnceCommit_drainsEveryNode_soRequestsMeanwhileGet503() throws Exception {
        List<CountDownLatch> gates = List.of(a.gate("/update_weights"), b.gate("/update_weights"),
                c.gate("/update_weights"));
        CompletableFuture<List<NodeResult>> run = controller.updateWeights(commit(false));
        await().atMost(Duration.ofSeconds(5)).until(() -> c.calls("/update_weights").size() == 1
                && b.calls("/update_weights").size() == 1 && a.calls("/update_weights").size() == 1);
        assertThatThrownBy(() -> controller.pick("m", RoutingMode.HYBRID, "x").join())
                .cause().isInstanceOf(NoHealthyNodeException.class);
        gates.forEach(CountDownLatch::countDown);
        assertThat(run.get(20, TimeUnit.SECONDS)).extracting(NodeResult::outcome).containsOnly(Outcome.DONE);
        assertThat(List.of(a, b, c)).allMatch(this::routable);
    }

    @Test
    void stagingRequest_goesToEveryNode_withoutDraining() throws Exception {
        CountDownLatch gate = a.gate("/update_weights");
        byte[] stage = "{\"serialized_named_tensors\":[\"QUJD\"],\"finished\":false}".getBytes(StandardCharsets.UTF_8);
        CompletableFuture<List<NodeResult>> run = controller.updateWeights(
                new WeightUpdate(Optional.empty(), stage, false, true, LONG));
        await().atMost(Duration.ofSeconds(5)).until(() -> a.calls("/update_weights").size() == 1);
        assertThat(List.of(a, b, c)).allMatch(this::routable);
        assertThatThrownBy(() -> controller.updateWeights(commit(true)).join())
                .cause().isInstanceOf(NodeConflictException.class);
        gate.countDown();
        assertThat(run.get(20, TimeUnit.SECONDS)).extracting(NodeResult::outcome).containsOnly(Outcome.DONE);
        assertThat(b.calls("/update_weights").getFirst().body().get("finished").asBoolean()).isFalse();
    }

    @Test
    void unknownModel_failsBeforeTouchingAnyNode() {
        assertThatThrownBy(() -> controller.updateWeights(new WeightUpdate(Optional.of("nope"), COMMIT, true, true,
                LONG)).join()).cause().isInstanceOf(UnknownModelException.class).hasMessageContaining("nope");
        assertThat(a.calls("/update_weights")).isEmpty();
    }

    @Test
    void sleep_takesNodesOutOfRotation_wakeUpPutsThemBack() throws Exception {
        List<NodeResult> slept = controller.sleep(Optional.of("m"), 2).get(20, TimeUnit.SECONDS);
        assertThat(slept).as(slept.toString()).extracting(NodeResult::outcome).containsOnly(Outcome.DONE);
        assertThat(a.calls("/sleep")).hasSize(1);
        assertThat(List.of(a, b, c)).noneMatch(this::routable);
        assertThat(controller.node(a.url()).orElseThrow().sleepLevel()).isEqualTo(2);

        b.fail("/wakeup", 500, 1);
        List<NodeResult> woken = controller.wakeUp(Optional.empty(), List.of("weights", "kv_cache")).get(20, TimeUnit.SECONDS);
        assertThat(woken).as(woken.toString()).extracting(NodeResult::outcome).containsExactly(Outcome.DONE, Outcome.FAILED, Outcome.DONE);
        assertThat(routable(a)).isTrue();
        assertThat(routable(b)).as("still asleep as far as anyone knows").isFalse();
        assertThat(woken.get(1).status()).isEqualTo(500);
    }
}
