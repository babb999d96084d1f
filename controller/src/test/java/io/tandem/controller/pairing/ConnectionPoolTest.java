package io.tandem.controller.pairing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;

import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.internal.Backoff;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.testing.FakeAgent;
import io.tandem.controller.testing.FakeClock;

class ConnectionPoolTest {
    private final FakeClock clock = new FakeClock();
    private final EventLoop loop = new EventLoop("test-events");
    private final HttpClient http = HttpClient.newHttpClient();
    private FakeAgent prefill;
    private FakeAgent decode;
    private ConnectionPool pool;

    @BeforeEach
    void start() throws IOException {
        prefill = new FakeAgent();
        decode = new FakeAgent();
        pool = new ConnectionPool(loop, new HttpDistServeClient(http, Duration.ofSeconds(5), Optional.empty()), clock,
                new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(8)), MigrationProtocol.RDMA);
    }

    @AfterEach
    void stop() {
        prefill.close();
        decode.close();
        loop.close();
        http.close();
    }

    @Test
    void connect_runsLmdeployHandshake_inOrder_withLmdeployBodies() {
        PairInfo info = pool.connect(prefill.url(), decode.url()).join();
        assertThat(info.state()).isEqualTo(PairState.CONNECTED);

        assertThat(prefill.calls()).extracting(FakeAgent.Call::path).containsExactly(
                "/distserve/engine_info", "/distserve/p2p_initialize", "/distserve/p2p_connect");
        assertThat(decode.calls()).extracting(FakeAgent.Call::path).containsExactly(
                "/distserve/engine_info", "/distserve/p2p_initialize", "/distserve/p2p_connect");
        int pInit = prefill.calls("/distserve/p2p_initialize").getFirst().seq();
        int dInit = decode.calls("/distserve/p2p_initialize").getFirst().seq();
        int pConn = prefill.calls("/distserve/p2p_connect").getFirst().seq();
        int dConn = decode.calls("/distserve/p2p_connect").getFirst().seq();
        assertThat(List.of(pInit, dInit, pConn, dConn)).isSorted();

        JsonNode init = prefill.calls("/distserve/p2p_initialize").getFirst().body();
        assertThat(init.get("local_engine_id").asText()).isEqualTo(prefill.url());
        assertThat(init.get("remote_engine_id").asText()).isEqualTo(decode.url());
        assertThat(init.get("protocol").asInt()).isEqualTo(2);
        assertThat(init.get("local_engine_config").get("block_size").asInt()).isEqualTo(64);
        assertThat(init.get("remote_engine_config").get("num_gpu_blocks").asInt()).isEqualTo(512);
        assertThat(init.get("rdma_config").get("with_gdr").asBoolean()).isTrue();
        assertThat(init.get("rdma_config").get("link_type").asInt()).isEqualTo(2);
        assertThat(init.has("rank")).isTrue();

        JsonNode connect = prefill.calls("/distserve/p2p_connect").getFirst().body();
        assertThat(connect.get("remote_engine_id").asText()).isEqualTo(decode.url());
        assertThat(connect.get("protocol").asInt()).isEqualTo(2);
        assertThat(connect.at("/remote_engine_endpoint_info/zmq_address").asText())
                .isEqualTo("tcp://127.0.0.1:" + decode.url().substring(decode.url().lastIndexOf(':') + 1));
        assertThat(connect.at("/remote_kvtransfer_endpoint_info/0/endpoint_info").asText()).isEqualTo("rkey-of-" + decode.url());
        JsonNode back = decode.calls("/distserve/p2p_connect").getFirst().body();
        assertThat(back.get("remote_engine_id").asText()).isEqualTo(prefill.url());
    }

    @Test
    void connectedPair_isNotConnectedAgain() {
        pool.connect(prefill.url(), decode.url()).join();
        pool.connect(prefill.url(), decode.url()).join();
        assertThat(prefill.calls("/distserve/p2p_initialize")).hasSize(1);
    }

    @Test
    void concurrentFirstUses_waitOnOneHandshake() throws Exception {
        CountDownLatch gate = prefill.gate("/distserve/engine_info");
        List<CompletableFuture<PairInfo>> uses = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            uses.add(pool.connect(prefill.url(), decode.url()));
        }
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                .until(() -> pool.pair(prefill.url(), decode.url()).map(PairInfo::state).orElse(null) == PairState.CONNECTING);
        gate.countDown();
        CompletableFuture.allOf(uses.toArray(CompletableFuture[]::new)).join();
        assertThat(prefill.calls("/distserve/engine_info")).hasSize(1);
        assertThat(decode.calls("/distserve/p2p_connect")).hasSize(1);
    }

    @Test
    void failedPair_failsFastDuringBackoff_andIsRetriedAfterIt() {
        decode.fail("/distserve/p2p_initialize", 500, 1);
        assertThatThrownBy(() -> pool.connect(prefill.url(), decode.url()).join())
                .cause().isInstanceOf(PairingFailedException.class)
                .hasMessageContaining("p2p_initialize on " + decode.url())
                .satisfies(e -> assertThat(((PairingFailedException) e).failedNode()).contains(decode.url()));
        PairInfo failed = pool.pair(prefill.url(), decode.url()).orElseThrow();
        assertThat(failed.state()).isEqualTo(PairState.FAILED);
        assertThat(failed.retryAt()).isEqualTo(clock.instant().plusSeconds(1));

        int callsBefore = prefill.calls().size();
        assertThatThrownBy(() -> pool.connect(prefill.url(), decode.url()).join())
                .cause().isInstanceOf(PairingFailedException.class).hasMessageContaining("next try in");
        assertThat(prefill.calls()).hasSize(callsBefore);

        clock.advance(Duration.ofSeconds(1));
        assertThat(pool.connect(prefill.url(), decode.url()).join().state()).isEqualTo(PairState.CONNECTED);
    }

    @Test
    void repeatedFailures_backOffLonger() {
        decode.fail("/distserve/engine_info", 503, 2);
        assertThatThrownBy(() -> pool.connect(prefill.url(), decode.url()).join());
        clock.advance(Duration.ofSeconds(1));
        assertThatThrownBy(() -> pool.connect(prefill.url(), decode.url()).join());
        assertThat(pool.pair(prefill.url(), decode.url()).orElseThrow().retryAt()).isEqualTo(clock.instant().plusSeconds(2));
    }

    @Test
    void droppedNode_pairsAreDroppedOnBothSides() {
        pool.connect(prefill.url(), decode.url()).join();
        assertThat(pool.dropNode(decode.url()).join()).isEqualTo(1);
        assertThat(pool.pairs()).isEmpty();
        JsonNode onP = prefill.calls("/distserve/p2p_drop_connect").getFirst().body();
        assertThat(onP.get("engine_id").asText()).isEqualTo(prefill.url());
        assertThat(onP.get("remote_engine_id").asText()).isEqualTo(decode.url());
        JsonNode onD = decode.calls("/distserve/p2p_drop_connect").getFirst().body();
        assertThat(onD.get("engine_id").asText()).isEqualTo(decode.url());
        assertThat(onD.get("remote_engine_id").asText()).isEqualTo(prefill.url());
    }

    @Test
    void droppedNodeThatIsDead_stillDropsTheSurvivingSide() {
        pool.connect(prefill.url(), decode.url()).join();
        decode.close();
        assertThat(pool.dropNode(decode.url()).join()).isEqualTo(1);
        assertThat(prefill.calls("/distserve/p2p_drop_connect")).hasSize(1);
    }

    @Test
    void warmup_connectsEveryPair_andReportsEach() throws IOException {
        try (FakeAgent broken = new FakeAgent()) {
            broken.fail("/distserve/engine_info", 500, 1);
            List<WarmupResult> report = pool.warmup(List.of(prefill.url()), List.of(decode.url(), broken.url())).join();
            assertThat(report).hasSize(2);
            assertThat(report.get(0).connected()).isTrue();
            assertThat(report.get(1).connected()).isFalse();
            assertThat(report.get(1).error()).contains("engine_info on " + broken.url()).contains("500");
        }
    }

    @Test
    void engineInfo_acceptsPlainObjectToo() {
        prefill.plainEngineInfo(true);
        var client = new HttpDistServeClient(http, Duration.ofSeconds(5), Optional.of("secret"));
        assertThat(client.engineInfo(prefill.url()).join().blockSize()).isEqualTo(64);
        assertThat(client.engineInfo(decode.url()).join().numGpuBlocks()).isEqualTo(512);
    }
}
