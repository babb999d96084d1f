package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Agents started with {@code --controller} attach to a real proxy's ClusterControl port: no /nodes/add, load
 * reports, commands down the stream, and a kill -9 taking the node out of rotation at once. Methods run in order:
 * the third kills the first agent, the fourth drains the second, the fifth restarts it (a new process attaching
 * with the same url must be told the drain again) and the sixth undrains it.
 */
@Timeout(120)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AttachIT {
    static final String[] ADMIN = {"Authorization", "Bearer adm"};
    static final ObjectMapper JSON = new ObjectMapper();
    static int grpcPort;
    static Procs.Proc proxy;
    static Procs.Proc a;
    static Procs.Proc b;
    static OpenAIClient viaProxy;

    @BeforeAll
    static void start() throws Exception {
        grpcPort = Procs.freePort();
        // A long probe interval: only the stream can tell the proxy that an attached node died.
        proxy = Procs.proxy(0, List.of("-Dtandem.proxy.health-interval=30s"), "--strategy", "random",
                "--admin-key", "adm", "--grpc-port", Integer.toString(grpcPort));
        a = Procs.agent("--controller", "127.0.0.1:" + grpcPort);
        viaProxy = OpenAIOkHttpClient.builder().baseUrl(proxy.base() + "/v1").apiKey("none").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {proxy, a, b}) {
            if (p != null) {
                p.close();
            }
        }
    }

    static JsonNode node(Procs.Proc agent) throws Exception {
        HttpResponse<String> r = proxy.get("/nodes/status", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).path(agent.base());
    }

    static ChatCompletionCreateParams chat(String prompt) {
        return ChatCompletionCreateParams.builder().model("tandem-tiny").addUserMessage(prompt)
                .maxCompletionTokens(16).temperature(0.0).build();
    }

    @Test
    @Order(1)
    void agentWithController_appearsInNodesStatus_reportsLoad_andServes() throws Exception {
        await().atMost(Duration.ofSeconds(10)).until(() -> node(a).path("routable").asBoolean(false));
        JsonNode n = node(a);
        assertThat(n.path("attached").asBoolean()).isTrue();
        assertThat(n.path("role").asInt()).isEqualTo(1);
        assertThat(n.path("models").toString()).isEqualTo("[\"tandem-tiny\"]");
        await().atMost(Duration.ofSeconds(5)).until(() -> node(a).path("load").has("kv_blocks_free"));
        assertThat(node(a).path("load").path("kv_blocks_used").asInt() + node(a).path("load").path("kv_blocks_free").asInt())
                .isEqualTo(160);

        OpenAIClient direct = OpenAIOkHttpClient.builder().baseUrl(a.base() + "/v1").apiKey("none").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
        String own = direct.chat().completions().create(chat("Tell me about the sea")).choices().get(0).message()
                .content().orElseThrow();
        String proxied = viaProxy.chat().completions().create(chat("Tell me about the sea")).choices().get(0).message()
                .content().orElseThrow();
        assertThat(proxied).isEqualTo(own);
    }

    @Test
    @Order(2)
    void sleepAndWakeup_sentDownTheStream_takeEffectOnTheAgent() throws Exception {
        String body = "{\"url\":\"" + a.base() + "\",\"level\":1}";
        HttpResponse<String> r = proxy.post("/nodes/sleep", body, ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(a.get("/is_sleeping").body()).contains("true");

        r = proxy.post("/nodes/wakeup", "{\"url\":\"" + a.base() + "\"}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(a.get("/is_sleeping").body()).contains("false");
        assertThat(viaProxy.chat().completions().create(chat("hello")).choices()).hasSize(1);
    }

    @Test
    @Order(3)
    void kill9_takesTheNodeOutOfRotation_withinTwoSeconds() throws Exception {
        a.kill9();
        long t0 = System.nanoTime();
        await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(50))
                .until(() -> !node(a).path("routable").asBoolean(true));
        System.err.printf("AttachIT: out of rotation %.0f ms after the agent died%n", (System.nanoTime() - t0) / 1e6);
        HttpResponse<String> r = proxy.post("/v1/chat/completions",
                "{\"model\":\"tandem-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
    }

    @Test
    @Order(4)
    void drain_sentDownTheStream_makesTheAgentRefuseNewRequests() throws Exception {
        b = Procs.agent("--controller", "127.0.0.1:" + grpcPort);
        await().atMost(Duration.ofSeconds(10)).until(() -> node(b).path("routable").asBoolean(false));
        HttpResponse<String> r = proxy.post("/nodes/drain", "{\"url\":\"" + b.base() + "\"}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(node(b).path("draining").asBoolean()).isTrue();
        r = b.post("/v1/chat/completions",
                "{\"model\":\"tandem-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        assertThat(b.get("/health").statusCode()).isEqualTo(200); // alive, only out of rotation
    }

    @Test
    @Order(5)
    void drainedAgent_restartedAndReattached_isDrainedAgain() throws Exception {
        b.kill9();
        await().atMost(Duration.ofSeconds(5)).until(() -> !node(b).path("attached").asBoolean(true));
        b = Procs.agent(Procs.tinyModel(), b.port, java.util.Map.of(), "--controller", "127.0.0.1:" + grpcPort);
        await().atMost(Duration.ofSeconds(15)).until(() -> node(b).path("attached").asBoolean(false));
        assertThat(node(b).path("draining").asBoolean()).isTrue();
        assertThat(node(b).path("routable").asBoolean(true)).isFalse();
        // The new process knew nothing of the drain; the controller told it again right after it registered.
        await().atMost(Duration.ofSeconds(5)).until(() -> b.post("/v1/chat/completions",
                "{\"model\":\"tandem-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}")
                .statusCode() == 503);
        HttpResponse<String> r = proxy.post("/v1/chat/completions",
                "{\"model\":\"tandem-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}");
        assertThat(r.statusCode()).as("the only node is drained: " + r.body()).isEqualTo(503);
    }

    @Test
    @Order(6)
    void undrain_sentDownTheStream_theAgentServesAgain() throws Exception {
        HttpResponse<String> r = proxy.post("/nodes/undrain", "{\"url\":\"" + b.base() + "\"}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(node(b).path("draining").asBoolean(true)).isFalse();
        // The agent itself accepts again (no wait: the proxy answers undrain after the agent confirmed it) ...
        r = b.post("/v1/chat/completions",
                "{\"model\":\"tandem-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        // ... and the proxy routes to it (the only live node).
        await().atMost(Duration.ofSeconds(5)).until(() -> node(b).path("routable").asBoolean(false));
        assertThat(viaProxy.chat().completions().create(chat("back again")).choices()).hasSize(1);
    }
}
