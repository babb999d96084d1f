package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.RateLimitException;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The per-client quota and the IP allowlist end to end over HTTP: real proxy processes on 127.0.0.1 in front of a
 * small OpenAI-compatible node in this JVM (the quota and the allowlist act before routing; no engine is needed to
 * show them). One proxy has a quota of 1 request/s with a burst of 2; the other allows only 127.0.0.2, which a
 * client reaches by binding its local address to it (all of 127.0.0.0/8 is loopback on Linux).
 */
@Timeout(90)
class SecurityIT {
    static final byte[] ANSWER = """
            {"id":"c1","object":"chat.completion","created":1,"model":"mock","choices":[{"index":0,\
            "message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],\
            "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}""".getBytes(StandardCharsets.UTF_8);
    static final String BODY = "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    static HttpServer node;
    static Procs.Proc quota;
    static Procs.Proc allowlist;

    @BeforeAll
    static void start() throws Exception {
        node = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        node.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        node.createContext("/health", ex -> {
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        node.createContext("/v1/", ex -> {
            ex.getRequestBody().readAllBytes();
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, ANSWER.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(ANSWER);
            }
        });
        node.start();
        quota = Procs.proxy(0, List.of(), "--quota-rps", "1", "--quota-burst", "2");
        allowlist = Procs.proxy(0, List.of(), "--allowed-ips", "127.0.0.2/32");
        String add = "{\"url\":\"http://127.0.0.1:" + node.getAddress().getPort() + "\",\"status\":{\"models\":[\"mock\"]}}";
        assertThat(quota.post("/nodes/add", add).statusCode()).isEqualTo(200);
        assertThat(post(from("127.0.0.2"), allowlist, "/nodes/add", add, "X").statusCode()).isEqualTo(200);
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {quota, allowlist}) {
            if (p != null) {
                p.close();
            }
        }
        if (node != null) {
            node.stop(0);
        }
    }

    @Test
    void quotaExceeded_is429WithRetryAfter_perClient() throws Exception {
        OpenAIClient sdk = OpenAIOkHttpClient.builder().baseUrl(quota.base() + "/v1").apiKey("none").maxRetries(0)
                .putHeader("X-Client-Name", "sdk-client").timeout(Duration.ofSeconds(30)).build();
        ChatCompletionCreateParams params = ChatCompletionCreateParams.builder().model("mock").addUserMessage("hi").build();
        assertThat(sdk.chat().completions().create(params).choices().getFirst().message().content()).hasValue("hi");
        assertThat(sdk.chat().completions().create(params).choices()).hasSize(1); // the burst of 2
        assertThatThrownBy(() -> sdk.chat().completions().create(params))
                .isInstanceOfSatisfying(RateLimitException.class, e -> {
                    assertThat(e.statusCode()).isEqualTo(429);
                    assertThat(e.headers().values("Retry-After")).singleElement()
                            .satisfies(v -> assertThat(Long.parseLong(v)).isBetween(1L, 2L));
                });

        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> limited = post(http, quota, "/v1/chat/completions", BODY, "sdk-client");
        assertThat(limited.statusCode()).isEqualTo(429);
        assertThat(limited.headers().firstValue("Retry-After")).isPresent();
        assertThat(limited.body()).contains("\"type\":\"rate_limit_error\"").contains("\"code\":\"quota_exceeded\"");
        // Another client has its own bucket.
        assertThat(post(http, quota, "/v1/chat/completions", BODY, "other-client").statusCode()).isEqualTo(200);
    }

    @Test
    void addressOutsideAllowlist_is403OnEveryRoute_andAnAllowedAddressIsServed() throws Exception {
        HttpClient denied = from("127.0.0.1");
        for (String path : List.of("/v1/chat/completions", "/nodes/add")) {
            HttpResponse<String> r = post(denied, allowlist, path, BODY, "x");
            assertThat(r.statusCode()).as(path).isEqualTo(403);
            assertThat(r.body()).contains("\"code\":\"ip_not_allowed\"").contains("127.0.0.1");
        }
        HttpResponse<String> models = denied.send(HttpRequest.newBuilder(URI.create(allowlist.base() + "/v1/models"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(models.statusCode()).isEqualTo(403);

        HttpResponse<String> ok = post(from("127.0.0.2"), allowlist, "/v1/chat/completions", BODY, "x");
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(ok.body()).contains("\"content\":\"hi\"");
    }

    private static HttpClient from(String localAddress) throws IOException {
        return HttpClient.newBuilder().localAddress(InetAddress.getByName(localAddress))
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    private static HttpResponse<String> post(HttpClient http, Procs.Proc proxy, String path, String body, String client)
            throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(proxy.base() + path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").header("X-Client-Name", client)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
