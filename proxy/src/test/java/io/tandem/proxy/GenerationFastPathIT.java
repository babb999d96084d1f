package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Netty fast path of the generation routes ({@code io.tandem.proxy.http.GenerationFastPath}) in a real proxy
 * process on 127.0.0.1 in front of a mock OpenAI node: it serves the two routes (its counter in /metrics moves),
 * answers in request order when requests for it and for Micronaut's routes are pipelined on one connection,
 * answers bad and oversized bodies with OpenAI errors and goes on serving, and can be switched off
 * ({@code TANDEM_PROXY_FAST_PATH=false}).
 */
class GenerationFastPathIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String WHOLE = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"hello from the mock\"},\"finish_reason\":\"stop\"}]}";
    static final String EVENT = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\"}}]}\n\n";

    static HttpServer node;
    static Procs.Proc proxy;
    static Procs.Proc micronautOnly;
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        node = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        node.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        node.createContext("/", GenerationFastPathIT::answer);
        node.start();
        proxy = startProxy(List.of());
        micronautOnly = startProxy(List.of("-Dtandem.proxy.fast-path=false"));
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {proxy, micronautOnly}) {
            if (p != null) {
                p.close();
            }
        }
        if (node != null) {
            node.stop(0);
        }
    }

    static Procs.Proc startProxy(List<String> jvmProps) throws Exception {
        List<String> props = new java.util.ArrayList<>(List.of("-Dmicronaut.server.max-request-size=64KB",
                "-Dmicronaut.server.max-request-buffer-size=64KB", "-Dtandem.proxy.health-interval=30s"));
        props.addAll(jvmProps);
        Procs.Proc p = Procs.proxy(0, props);
        HttpResponse<String> added = p.post("/nodes/add", "{\"url\":\"http://127.0.0.1:" + node.getAddress().getPort()
                + "\",\"status\":{\"models\":[\"mock\"]}}");
        assertThat(added.statusCode()).as(added.body()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> chat(p.base(), false).statusCode() == 200);
        return p;
    }

    private static void answer(HttpExchange ex) throws IOException {
        byte[] body = ex.getRequestBody().readAllBytes();
        String path = ex.getRequestURI().getPath();
        if (path.equals("/v1/chat/completions") || path.equals("/v1/completions")) {
            boolean stream = new String(body, StandardCharsets.UTF_8).contains("\"stream\":true");
            if (stream) {
                ex.getResponseHeaders().set("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                try (OutputStream out = ex.getResponseBody()) {
                    for (int i = 0; i < 3; i++) {
                        out.write(EVENT.getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                }
                return;
            }
            reply(ex, 200, WHOLE);
            return;
        }
        if (path.equals("/v1/models")) {
            reply(ex, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"mock\",\"object\":\"model\"}]}");
            return;
        }
        reply(ex, 200, "{\"status\":\"ok\"}");
    }

    private static void reply(HttpExchange ex, int status, String json) throws IOException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    static HttpResponse<String> chat(String base, boolean stream) throws IOException, InterruptedException {
        return post(base, "/v1/chat/completions", "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                + "\"stream\":" + stream + "}");
    }

    static HttpResponse<String> post(String base, String path, String body) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void servesBothGenerationRoutesItself() throws Exception {
        double before = proxy.metric("tandem_proxy_fast_path_requests_total", "");
        HttpResponse<String> whole = chat(proxy.base(), false);
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(WHOLE);
        assertThat(whole.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
        HttpResponse<String> stream = chat(proxy.base(), true);
        assertThat(stream.statusCode()).isEqualTo(200);
        assertThat(stream.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        assertThat(stream.body()).isEqualTo(EVENT.repeat(3) + "data: [DONE]\n\n");
        HttpResponse<String> completions = post(proxy.base(), "/v1/completions?x=1", "{\"model\":\"mock\",\"prompt\":\"hi\"}");
        assertThat(completions.statusCode()).isEqualTo(200);
        assertThat(proxy.metric("tandem_proxy_fast_path_requests_total", "") - before).isEqualTo(3);
    }

    /** On Linux x86-64 the connections run on Netty's epoll transport (the native library is a dependency). */
    @Test
    void connectionsUseEpollOnLinux() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getProperty("os.name").startsWith("Linux")
                && System.getProperty("os.arch").equals("amd64"), "epoll's native library is for Linux x86-64");
        assertThat(java.nio.file.Files.readString(proxy.log))
                .contains("generation routes on the Netty fast path; transport: EpollSocketChannel");
    }

    /** One event loop per core unless configured (ProxyMain.defaultEventLoopThreads). */
    @Test
    void connectionsRunOnOneEventLoopPerCore() throws Exception {
        assertThat(java.nio.file.Files.readString(proxy.log))
                .contains(", " + Runtime.getRuntime().availableProcessors() + " event loops");
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        String chatBody = "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        String requests = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                + chatBody.length() + "\r\n\r\n" + chatBody
                + "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{x}"
                + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        String all;
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(requests.getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            all = new String(readToEnd(s.getInputStream()), StandardCharsets.UTF_8);
        }
        int health = all.indexOf("\"routable_nodes\"");
        int completion = all.indexOf("hello from the mock");
        int models = all.indexOf("\"object\":\"list\"");
        int badJson = all.indexOf("HTTP/1.1 400");
        int lastHealth = all.lastIndexOf("\"routable_nodes\"");
        assertThat(health).as(all).isNotNegative();
        assertThat(completion).as(all).isGreaterThan(health);
        assertThat(models).as(all).isGreaterThan(completion);
        assertThat(badJson).as(all).isGreaterThan(models);
        assertThat(lastHealth).as(all).isGreaterThan(badJson);
        assertThat(all.split("HTTP/1.1 ", -1)).as(all).hasSize(6);
    }

    private static byte[] readToEnd(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        for (int n; (n = in.read(buf)) >= 0; ) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    @Test
    void badBodiesGetOpenAiErrors() throws Exception {
        HttpResponse<String> notJson = post(proxy.base(), "/v1/chat/completions", "not json");
        assertThat(notJson.statusCode()).isEqualTo(400);
        assertThat(error(notJson).path("code").asText()).isEqualTo("invalid_request");
        HttpResponse<String> unknownModel = post(proxy.base(), "/v1/chat/completions",
                "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(unknownModel.statusCode()).isEqualTo(404);
        assertThat(error(unknownModel).path("code").asText()).isEqualTo("model_not_found");
        HttpResponse<String> tooLarge = post(proxy.base(), "/v1/chat/completions",
                "{\"model\":\"mock\",\"prompt\":\"" + "x".repeat(100_000) + "\"}");
        assertThat(tooLarge.statusCode()).isEqualTo(413);
        assertThat(error(tooLarge).path("type").asText()).isEqualTo("invalid_request_error");
        // ... and the proxy goes on serving.
        assertThat(chat(proxy.base(), false).statusCode()).isEqualTo(200);
    }

    /**
     * A body that arrives over several reads (buffered by Micronaut's handler before the route sees it) and one sent
     * after {@code Expect: 100-continue} are served like any other.
     */
    @Test
    void largeAndExpectContinueBodiesAreServed() throws Exception {
        String prompt = "y".repeat(60_000); // under the 64KB limit of this proxy, over one socket read
        HttpResponse<String> large = post(proxy.base(), "/v1/chat/completions",
                "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}");
        assertThat(large.statusCode()).as(large.body()).isEqualTo(200);
        assertThat(large.body()).isEqualTo(WHOLE);
        HttpResponse<String> continued = HTTP.send(HttpRequest.newBuilder(URI.create(proxy.base() + "/v1/completions"))
                .timeout(Duration.ofSeconds(30)).expectContinue(true).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"mock\",\"prompt\":\"hi\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(continued.statusCode()).as(continued.body()).isEqualTo(200);
        assertThat(continued.body()).isEqualTo(WHOLE);
    }

    private static JsonNode error(HttpResponse<String> r) throws IOException {
        assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
        JsonNode e = JSON.readTree(r.body()).path("error");
        assertThat(e.path("message").asText()).as(r.body()).isNotBlank();
        return e;
    }

    @Test
    void switchedOffMicronautServesTheRoutes() throws Exception {
        HttpResponse<String> whole = chat(micronautOnly.base(), false);
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(WHOLE);
        assertThat(chat(micronautOnly.base(), true).body()).isEqualTo(EVENT.repeat(3) + "data: [DONE]\n\n");
        assertThat(micronautOnly.metric("tandem_proxy_fast_path_requests_total", "")).isZero();
    }
}
