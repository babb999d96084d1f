package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

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
 * DistServe mode end to end with real agents: a proxy in {@code --mode distserve}, one agent in
 * {@code --role prefill} and two in {@code --role decode} (KV blocks over UCX's TCP transport on loopback, all
 * with a cluster token), and a hybrid agent whose greedy output is the reference. Decode D1 is weighted far
 * above D2, so D1 serves while it is routable. Processes start once for the class; the last test kills D1.
 */
@Timeout(60)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RealDistServeIT {
    static final String[] ADMIN = {"Authorization", "Bearer adm"};
    static final String TOKEN = "it-cluster-token";
    static final Map<String, String> UCX_TCP = Map.of("UCX_TLS", "tcp", "UCX_NET_DEVICES", "lo");
    static Procs.Proc hybrid;
    static Procs.Proc prefill;
    static Procs.Proc d1;
    static Procs.Proc d2;
    static Procs.Proc proxy;
    static OpenAIClient viaProxy;
    static OpenAIClient direct;

    @BeforeAll
    static void start() throws Exception {
        var h = startAsync(Map.of());
        var p = startAsync(UCX_TCP, "--role", "prefill", "--cluster-token", TOKEN);
        var a = startAsync(UCX_TCP, "--role", "decode", "--cluster-token", TOKEN);
        var b = startAsync(UCX_TCP, "--role", "decode", "--cluster-token", TOKEN);
        proxy = Procs.proxy(0, List.of("-Dtandem.proxy.health-interval=30s"), "--mode", "distserve",
                "--strategy", "random", "--admin-key", "adm", "--cluster-token", TOKEN);
        hybrid = h.join();
        prefill = p.join();
        d1 = a.join();
        d2 = b.join();
        add(prefill, 2, 1);
        add(d1, 3, 1_000_000);
        add(d2, 3, 1);
        viaProxy = OpenAIOkHttpClient.builder().baseUrl(proxy.base() + "/v1").apiKey("x").maxRetries(0)
                .timeout(Duration.ofSeconds(30)).build();
        direct = OpenAIOkHttpClient.builder().baseUrl(hybrid.base() + "/v1").apiKey("x").maxRetries(0)
                .timeout(Duration.ofSeconds(30)).build();
    }

    private static CompletableFuture<Procs.Proc> startAsync(Map<String, String> env, String... args) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return Procs.agent(env, args);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    static void add(Procs.Proc n, int role, int speed) throws Exception {
        HttpResponse<String> r = proxy.post("/nodes/add", "{\"url\":\"" + n.base() + "\",\"status\":{\"role\":" + role
                + ",\"speed\":" + speed + ",\"models\":[\"tandem-tiny\"]}}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {proxy, prefill, d1, d2, hybrid}) {
            if (c != null) {
                c.close();
            }
        }
    }

    static double blocks(Procs.Proc agent) throws IOException, InterruptedException {
        return agent.metric("tandem:kv_blocks_used", "");
    }

    static double running(Procs.Proc agent) throws IOException, InterruptedException {
        return agent.metric("vllm:num_requests_running", "");
    }

    /** Prefill and both decode agents (the live ones) hold no KV block, within a few seconds. */
    static void awaitNoBlocks() {
        await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
            assertThat(blocks(prefill)).as("prefill blocks").isZero();
            for (Procs.Proc d : List.of(d1, d2)) {
                if (d.process.isAlive()) {
                    assertThat(blocks(d)).as("decode blocks " + d.base()).isZero();
                }
            }
        });
    }

    static HttpResponse<InputStream> openLongStream() throws Exception {
        return Procs.HTTP.send(HttpRequest.newBuilder(URI.create(proxy.base() + "/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(HybridProxyIT.LONG)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
    }

    /** Reads {@code n} non-empty SSE lines, each a data chunk. */
    static BufferedReader firstChunks(HttpResponse<InputStream> r, int n) throws IOException {
        assertThat(r.statusCode()).isEqualTo(200);
        BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        for (int i = 0; i < n; ) {
            String line = in.readLine();
            assertThat(line).isNotNull();
            if (!line.isEmpty()) {
                assertThat(line).startsWith("data: {\"id\"");
                i++;
            }
        }
        return in;
    }

    @Test
    @Order(1)
    void chat_throughRealPrefillAndDecode_equalsHybridOutput_blocksFreed() throws Exception {
        double migrations = proxy.metric("tandem_proxy_migration_duration_seconds_count", "");
        double prefillPrompts = prefill.metric("vllm:prompt_tokens_total", "");
        double decoded = d1.metric("vllm:generation_tokens_total", "");
        ChatCompletion own = direct.chat().completions().create(HybridProxyIT.chat("Why is the sky blue", 20).build());
        ChatCompletion via = viaProxy.chat().completions().create(HybridProxyIT.chat("Why is the sky blue", 20).build());
        assertThat(via.choices().get(0).message().content()).isNotEmpty()
                .isEqualTo(own.choices().get(0).message().content());
        assertThat(via.usage().orElseThrow().completionTokens()).isEqualTo(own.usage().orElseThrow().completionTokens());
        // It really went prefill -> KV migration -> decode on D1.
        assertThat(proxy.metric("tandem_proxy_migration_duration_seconds_count", "")).isEqualTo(migrations + 1);
        await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
            assertThat(prefill.metric("vllm:prompt_tokens_total", "")).isGreaterThan(prefillPrompts);
            assertThat(d1.metric("vllm:generation_tokens_total", "")).isGreaterThan(decoded);
        });
        awaitNoBlocks();
    }

    @Test
    @Order(2)
    void chatStreaming_throughRealPrefillAndDecode_equalsHybridOutput_blocksFreed() {
        String own = HybridProxyIT.streamed(direct, HybridProxyIT.chat("Count to ten, slowly", 20).build());
        String via = HybridProxyIT.streamed(viaProxy, HybridProxyIT.chat("Count to ten, slowly", 20).build());
        assertThat(via).isNotEmpty().isEqualTo(own);
        awaitNoBlocks();
    }

    @Test
    @Order(3)
    void clientDisconnect_decodeRunsNothing_prefillHoldsNothing() throws Exception {
        BufferedReader in = firstChunks(openLongStream(), 6);
        assertThat(running(d1) + running(d2)).isEqualTo(1);
        in.close();
        await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
            assertThat(running(d1)).isZero();
            assertThat(running(d2)).isZero();
            assertThat(blocks(prefill)).isZero();
        });
        awaitNoBlocks();
    }

    @Test
    @Order(4)
    void kill9OfServingDecode_midStream_clientGetsErrorThenDone_othersServe_prefillFreed() throws Exception {
        BufferedReader in = firstChunks(openLongStream(), 6);
        Procs.Proc serving = running(d1) == 1 ? d1 : d2;
        Procs.Proc other = serving == d1 ? d2 : d1;
        assertThat(running(serving)).isEqualTo(1);
        serving.kill9();
        List<String> rest = new ArrayList<>();
        try {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.isEmpty()) {
                    rest.add(line);
                }
            }
            assertThat(rest).hasSizeGreaterThanOrEqualTo(2);
            assertThat(rest.get(rest.size() - 2)).startsWith("data: {\"error\":").contains("upstream_failed");
            assertThat(rest.getLast()).isEqualTo("data: [DONE]");
            assertThat(rest.subList(0, rest.size() - 2)).allMatch(l -> l.startsWith("data: {\"id\""));
            System.out.println("kill9: error event then [DONE] after " + (rest.size() - 2) + " more chunks");
        } catch (IOException brokenStream) {
            // Also acceptable: the proxy's answer itself broke, which the client sees as an error.
            System.out.println("kill9: stream broke: " + brokenStream);
        }
        double before = other.metric("vllm:generation_tokens_total", "");
        for (int i = 0; i < 3; i++) {
            ChatCompletion own = direct.chat().completions().create(HybridProxyIT.chat("still there? " + i, 6).build());
            ChatCompletion next = viaProxy.chat().completions().create(HybridProxyIT.chat("still there? " + i, 6).build());
            assertThat(next.choices().get(0).message().content()).isEqualTo(own.choices().get(0).message().content());
        }
        await().atMost(Duration.ofSeconds(2))
                .until(() -> other.metric("vllm:generation_tokens_total", "") > before);
        awaitNoBlocks();
    }
}
