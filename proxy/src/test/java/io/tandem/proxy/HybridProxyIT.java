package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * Hybrid mode with real agent processes behind a real proxy process, driven by the openai-java SDK (and raw HTTP
 * where the bytes on the wire are the point). Agent A is weighted far above B (strategy random by speed), so
 * requests go to A while it is routable: that makes "which node serves" deterministic for the failure tests.
 * Methods run in order: later ones kill nodes.
 */
@Timeout(120)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HybridProxyIT {
    static final String ADMIN = "Authorization: Bearer adm";
    static Procs.Proc a;
    static Procs.Proc b;
    static Procs.Proc proxy;
    static Path stateFile;
    static OpenAIClient viaProxy;
    static OpenAIClient direct;

    @BeforeAll
    static void start() throws Exception {
        a = Procs.agent();
        b = Procs.agent("--admin-key", "node-adm");
        stateFile = Procs.ROOT.resolve("proxy/target/it-state/hybrid-nodes.json");
        Files.createDirectories(stateFile.getParent());
        Files.deleteIfExists(stateFile);
        proxy = startProxy(0);
        addNode(a, 1_000_000);
        addNode(b, 1);
        viaProxy = OpenAIOkHttpClient.builder().baseUrl(proxy.base() + "/v1").apiKey("k1").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
        direct = OpenAIOkHttpClient.builder().baseUrl(a.base() + "/v1").apiKey("none").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
    }

    static Procs.Proc startProxy(int port) throws Exception {
        // A long probe interval: a node killed in a test stays "healthy" until a request finds out.
        return Procs.proxy(port, List.of("-Dtandem.proxy.health-interval=30s"), "--strategy", "random",
                "--admin-key", "adm", "--api-keys", "k1", "--node-admin-key", "node-adm", "--state-file", stateFile.toString());
    }

    static void addNode(Procs.Proc node, int speed) throws Exception {
        HttpResponse<String> r = proxy.post("/nodes/add", "{\"url\":\"" + node.base() + "\",\"status\":{\"role\":1,"
                + "\"models\":[\"tandem-tiny\"],\"speed\":" + speed + "}}", ADMIN.split(": "));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.get("/nodes/status", ADMIN.split(": ")).body()
                .contains("\"" + node.base() + "\":{\"role\":1,\"models\":[\"tandem-tiny\"]"));
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {proxy, a, b}) {
            if (p != null) {
                p.close();
            }
        }
    }

    static ChatCompletionCreateParams.Builder chat(String prompt, int maxTokens) {
        return ChatCompletionCreateParams.builder().model("tandem-tiny").addUserMessage(prompt)
                .maxCompletionTokens(maxTokens).temperature(0.0);
    }

    static String streamed(OpenAIClient client, ChatCompletionCreateParams params) {
        StringBuilder out = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(params)) {
            s.stream().forEach(c -> c.choices().forEach(ch -> ch.delta().content().ifPresent(out::append)));
        }
        return out.toString();
    }

    @Test
    @Order(1)
    void chat_throughProxy_equalsAgentOwnOutput() {
        ChatCompletion own = direct.chat().completions().create(chat("Tell me about the sea", 24).build());
        ChatCompletion proxied = viaProxy.chat().completions().create(chat("Tell me about the sea", 24).build());
        assertThat(proxied.choices().get(0).message().content()).isEqualTo(own.choices().get(0).message().content());
        assertThat(proxied.usage().orElseThrow().completionTokens())
                .isEqualTo(own.usage().orElseThrow().completionTokens());
    }

    @Test
    @Order(2)
    void chatStreaming_throughProxy_equalsAgentOwnOutput() {
        String own = streamed(direct, chat("Once upon a time", 24).build());
        String proxied = streamed(viaProxy, chat("Once upon a time", 24).build());
        assertThat(proxied).isNotEmpty().isEqualTo(own);
    }

    @Test
    @Order(3)
    void completions_throughProxy_equalsAgentOwnOutput() throws Exception {
        String body = "{\"model\":\"tandem-tiny\",\"prompt\":\"The capital of\",\"max_tokens\":12,\"temperature\":0}";
        String own = a.post("/v1/completions", body).body();
        HttpResponse<String> proxied = proxy.post("/v1/completions", body, "Authorization", "Bearer k1");
        assertThat(proxied.statusCode()).isEqualTo(200);
        assertThat(text(proxied.body())).isEqualTo(text(own));
    }

    private static String text(String completion) {
        int i = completion.indexOf("\"text\":\"");
        return completion.substring(i, completion.indexOf("\"", i + 8));
    }

    @Test
    @Order(4)
    void keys_adminRoutes401Or403_generation401_modelsOpen() throws Exception {
        assertThat(proxy.get("/nodes/status").statusCode()).isEqualTo(401);
        assertThat(proxy.get("/nodes/status", "Authorization", "Bearer wrong").statusCode()).isEqualTo(403);
        assertThat(proxy.post("/distserve/gc", "{}", "Authorization", "Bearer k1").statusCode()).isEqualTo(403);
        assertThat(proxy.get("/v1/models").body()).contains("tandem-tiny");
        OpenAIClient wrong = OpenAIOkHttpClient.builder().baseUrl(proxy.base() + "/v1").apiKey("nope").maxRetries(0)
                .build();
        assertThatThrownBy(() -> wrong.chat().completions().create(chat("hi", 2).build()))
                .isInstanceOf(UnauthorizedException.class);
        HttpResponse<String> r = proxy.post("/v1/chat/completions", "{\"model\":\"tandem-tiny\",\"messages\":\"hi\"}");
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.body()).contains("\"error\"").contains("authentication_error");
    }

    @Test
    @Order(5)
    void unknownModel_is404_badBody_is400() throws Exception {
        assertThatThrownBy(() -> viaProxy.chat().completions().create(ChatCompletionCreateParams.builder()
                .model("no-such-model").addUserMessage("hi").build())).isInstanceOf(NotFoundException.class);
        HttpResponse<String> r = proxy.post("/v1/chat/completions", "not json", "Authorization", "Bearer k1");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("invalid_request_error");
    }

    static final String LONG = "{\"model\":\"tandem-tiny\",\"messages\":\"a long story\",\"max_tokens\":1900,"
            + "\"ignore_eos\":true,\"temperature\":0,\"stream\":true}";

    static HttpResponse<InputStream> openStream() throws Exception {
        return Procs.HTTP.send(HttpRequest.newBuilder(URI.create(proxy.base() + "/v1/chat/completions"))
                .header("Authorization", "Bearer k1").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(LONG)).build(), HttpResponse.BodyHandlers.ofInputStream());
    }

    @Test
    @Order(6)
    void clientDisconnect_nodeRunsNothingWithinASecond() throws Exception {
        HttpResponse<InputStream> r = openStream();
        assertThat(r.statusCode()).isEqualTo(200);
        BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        for (int i = 0; i < 6; i++) {
            assertThat(in.readLine()).isNotNull();
        }
        assertThat(a.metric("vllm:num_requests_running", "")).isEqualTo(1);
        in.close();
        await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(50)).until(a::idle);
        await().atMost(Duration.ofSeconds(2)).until(() -> proxy.metric("tandem_proxy_client_disconnects_total", "") >= 1);
    }

    @Test
    @Order(7)
    void killMidStream_clientGetsErrorEvent_newRequestsGoElsewhere() throws Exception {
        HttpResponse<InputStream> r = openStream();
        BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        for (int i = 0; i < 6; i++) {
            assertThat(in.readLine()).isNotNull();
        }
        a.kill9();
        List<String> rest = new ArrayList<>();
        for (String line; (line = in.readLine()) != null; ) {
            if (!line.isEmpty()) {
                rest.add(line);
            }
        }
        assertThat(rest).hasSizeGreaterThanOrEqualTo(2);
        assertThat(rest.get(rest.size() - 2)).startsWith("data: {\"error\":").contains("upstream_failed");
        assertThat(rest.getLast()).isEqualTo("data: [DONE]");
        assertThat(rest.subList(0, rest.size() - 2)).allMatch(l -> l.startsWith("data: {\"id\""));

        // One broken stream counts into the dead node's circuit breaker but does not eject it by itself (a busy
        // node's one failure must not); requests that still pick it fail before their first byte and are retried
        // on the live node, so every new request gets its answer.
        for (int i = 0; i < 4; i++) {
            ChatCompletion next = viaProxy.chat().completions().create(chat("still there? " + i, 4).build());
            assertThat(next.choices()).hasSize(1);
        }
        assertThat(b.metric("vllm:generation_tokens_total", "")).isGreaterThan(0);
    }

    @Test
    @Order(8)
    void killBeforeFirstByte_clientSeesNormalAnswer() throws Exception {
        Procs.Proc c = Procs.agent();
        addNode(c, 1_000_000);
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.get("/nodes/status", ADMIN.split(": ")).body()
                .contains("\"" + c.base() + "\":{\"role\":1,\"models\":[\"tandem-tiny\"],\"speed\":1000000,"
                        + "\"unfinished\":0,\"latency\":[],\"health\":\"healthy\""));
        c.kill9(); // the proxy learns only when a request fails (probes every 30 s here)
        double retries = proxy.metric("tandem_proxy_retries_total", "");
        String own = streamed(viaProxy, chat("Hello", 8).build());
        ChatCompletion whole = viaProxy.chat().completions().create(chat("Hello", 8).build());
        assertThat(own).isNotEmpty().isEqualTo(whole.choices().get(0).message().content().orElseThrow());
        assertThat(proxy.metric("tandem_proxy_retries_total", "")).isGreaterThan(retries);

        HttpResponse<String> removed = proxy.post("/nodes/remove", "{\"url\":\"" + c.base() + "\"}", ADMIN.split(": "));
        assertThat(removed.statusCode()).isEqualTo(200);
        assertThat(proxy.get("/nodes/status", ADMIN.split(": ")).body()).doesNotContain(c.base());
        assertThat(proxy.post("/nodes/remove", "{\"url\":\"" + c.base() + "\"}", ADMIN.split(": ")).statusCode())
                .isEqualTo(404);
    }

    @Test
    @Order(9)
    void proxyRestart_keepsItsNodes() throws Exception {
        int port = proxy.port;
        proxy.close();
        proxy = startProxy(port);
        String status = proxy.get("/nodes/status", ADMIN.split(": ")).body();
        assertThat(status).contains(b.base()).contains(a.base());
        assertThat(viaProxy.chat().completions().create(chat("again", 3).build()).choices()).hasSize(1);
    }

    @Test
    @Order(10)
    void terminate_stopsTheNodeAndRemovesIt() throws Exception {
        HttpResponse<String> r = proxy.post("/nodes/terminate", "{\"url\":\"" + b.base() + "\"}", ADMIN.split(": "));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> !b.process.isAlive());
        assertThat(proxy.get("/nodes/status", ADMIN.split(": ")).body()).doesNotContain(b.base());
    }
}
