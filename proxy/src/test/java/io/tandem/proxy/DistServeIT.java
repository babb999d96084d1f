package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletion;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * DistServe mode through a real proxy process. The prefill and decode engines are {@link FakeDistServeNode}s
 * (LMDeploy's DistServe protocol on 127.0.0.1) computing with one real hybrid agent, so the proxy's side of the
 * protocol (request fields, retries, free_cache) can be checked exactly; output through the proxy must equal that
 * agent's own. The same flow with real prefill/decode agents is {@link RealDistServeIT}.
 * Decode D1 is weighted far above D2, so D1 serves while it is routable.
 */
@Timeout(120)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DistServeIT {
    static final String[] ADMIN = {"Authorization", "Bearer adm"};
    static Procs.Proc agent;
    static Procs.Proc proxy;
    static FakeDistServeNode p1;
    static FakeDistServeNode d1;
    static FakeDistServeNode d2;
    static OpenAIClient viaProxy;
    static OpenAIClient direct;

    @BeforeAll
    static void start() throws Exception {
        agent = Procs.agent();
        p1 = new FakeDistServeNode(FakeDistServeNode.Role.PREFILL, agent.base());
        d1 = new FakeDistServeNode(FakeDistServeNode.Role.DECODE, agent.base());
        d2 = new FakeDistServeNode(FakeDistServeNode.Role.DECODE, agent.base());
        proxy = Procs.proxy(0, List.of("-Dtandem.proxy.health-interval=30s"), "--mode", "distserve",
                "--strategy", "random", "--admin-key", "adm", "--cluster-token", "ct");
        add(p1, 2, 1);
        add(d1, 3, 1_000_000);
        add(d2, 3, 1);
        viaProxy = OpenAIOkHttpClient.builder().baseUrl(proxy.base() + "/v1").apiKey("x").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
        direct = OpenAIOkHttpClient.builder().baseUrl(agent.base() + "/v1").apiKey("x").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
    }

    static void add(FakeDistServeNode n, int role, int speed) throws Exception {
        HttpResponse<String> r = proxy.post("/nodes/add", "{\"url\":\"" + n.url() + "\",\"status\":{\"role\":" + role
                + ",\"speed\":" + speed + "}}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {proxy, p1, d1, d2, agent}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @Test
    @Order(1)
    void chat_prefillThenDecode_equalsHybridAgentOutput_withLmdeployMigrationRequest() {
        ChatCompletion own = direct.chat().completions().create(HybridProxyIT.chat("Why is the sky blue", 20).build());
        ChatCompletion via = viaProxy.chat().completions().create(HybridProxyIT.chat("Why is the sky blue", 20).build());
        assertThat(via.choices().get(0).message().content()).isEqualTo(own.choices().get(0).message().content());

        ObjectNode pre = p1.requests.getLast();
        assertThat(pre.get("max_tokens").asInt()).isEqualTo(1);
        assertThat(pre.get("max_completion_tokens").asInt()).isEqualTo(1);
        assertThat(pre.get("stream").asBoolean()).isFalse();
        assertThat(pre.get("with_cache").asBoolean()).isTrue();
        assertThat(pre.get("preserve_cache").asBoolean()).isTrue();
        long session = pre.get("session_id").asLong();

        JsonNode m = d1.requests.getLast().get("migration_request");
        assertThat(m.get("protocol").asInt()).isEqualTo(2);
        assertThat(m.get("remote_engine_id").asText()).isEqualTo(p1.url());
        assertThat(m.get("remote_session_id").asLong()).isEqualTo(session);
        assertThat(m.get("remote_block_ids").toString()).isEqualTo("[7,8,9]");
        assertThat(m.get("remote_token_id").asInt()).isEqualTo(FakeDistServeNode.FIRST_TOKEN);
        assertThat(m.get("is_dummy_prefill").asBoolean()).isFalse();
        assertThat(d1.requests.getLast().get("max_completion_tokens").asInt()).isEqualTo(20);
    }

    @Test
    @Order(2)
    void chatStreaming_prefillThenDecode_equalsHybridAgentOutput() {
        String own = HybridProxyIT.streamed(direct, HybridProxyIT.chat("Count to ten", 20).build());
        String via = HybridProxyIT.streamed(viaProxy, HybridProxyIT.chat("Count to ten", 20).build());
        assertThat(via).isNotEmpty().isEqualTo(own);
        assertThat(d1.requests.getLast().get("stream").asBoolean()).isTrue();
    }

    @Test
    @Order(3)
    void decodeDiesBeforeFirstByte_retriedOnAnotherDecode_prefillBlocksFreed() {
        d1.dropGenerations = true;
        int before = d2.requests.size();
        String own = HybridProxyIT.streamed(direct, HybridProxyIT.chat("Hello again", 10).build());
        String via = HybridProxyIT.streamed(viaProxy, HybridProxyIT.chat("Hello again", 10).build());
        assertThat(via).isEqualTo(own);
        assertThat(d2.requests).hasSize(before + 1);
        long failedSession = d1.requests.getLast().get("migration_request").get("remote_session_id").asLong();
        await().atMost(Duration.ofSeconds(2)).until(() -> p1.freed.stream()
                .anyMatch(f -> f.get("remote_session_id").asLong() == failedSession
                        && f.get("remote_engine_id").asText().equals(p1.url())));
    }

    @Test
    @Order(4)
    void clientDisconnect_abortsOnDecode_freesPrefill_agentIdle() throws Exception {
        HttpResponse<InputStream> r = Procs.HTTP.send(HttpRequest.newBuilder(URI.create(proxy.base()
                        + "/v1/chat/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(HybridProxyIT.LONG)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        for (int i = 0; i < 6; i++) {
            assertThat(in.readLine()).isNotNull();
        }
        JsonNode decodeReq = d2.requests.getLast();
        long decodeSession = decodeReq.get("session_id").asLong();
        long prefillSession = decodeReq.get("migration_request").get("remote_session_id").asLong();
        in.close();
        await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(50)).until(() ->
                d2.aborted.stream().anyMatch(a -> a.get("session_id").asLong() == decodeSession)
                        && p1.freed.stream().anyMatch(f -> f.get("remote_session_id").asLong() == prefillSession)
                        && agent.idle());
    }

    @Test
    @Order(5)
    void connectionWarmup_reportsEveryPair_gcAnswers() throws Exception {
        HttpResponse<String> w = proxy.post("/distserve/connection_warmup", "{}", ADMIN);
        assertThat(w.statusCode()).isEqualTo(200);
        assertThat(w.body()).contains("\"prefill\":\"" + p1.url() + "\"").contains("\"decode\":\"" + d2.url() + "\"")
                .contains("\"connected\":true");
        HttpResponse<String> gc = proxy.post("/distserve/gc", "{}", ADMIN);
        assertThat(gc.statusCode()).isEqualTo(200);
        assertThat(gc.body()).contains("\"freed\"");
        String metrics = proxy.get("/metrics").body();
        assertThat(metrics).contains("tandem_proxy_migration_duration_seconds_count")
                .contains("tandem_proxy_time_to_first_token_seconds_bucket")
                .contains("tandem_proxy_retries_total{route=\"/v1/chat/completions\"}");
    }
}
