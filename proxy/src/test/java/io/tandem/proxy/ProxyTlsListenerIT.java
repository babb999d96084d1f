package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

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

import javax.net.ssl.SSLHandshakeException;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The proxy's own listener over TLS (Micronaut's {@code micronaut.server.ssl.*}, docs/operations.md): the generation
 * routes, served by the Netty fast path behind Micronaut's TLS handler, answer whole and streamed over https, so do
 * Micronaut's own routes, and a client that does not trust the certificate gets no answer.
 */
class ProxyTlsListenerIT {
    static final String WHOLE = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"behind tls\"},\"finish_reason\":\"stop\"}]}";
    static final String EVENT = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tls\"}}]}\n\n";
    static final String BODY = "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":";

    static HttpServer node;
    static Procs.Proc proxy;
    static int tlsPort;
    static HttpClient trusting;

    @BeforeAll
    static void start() throws Exception {
        TestCerts certs = TestCerts.create(Procs.ROOT.resolve("proxy/target/it-tls-listener"), "proxy");
        node = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        node.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        node.createContext("/", ProxyTlsListenerIT::answer);
        node.start();
        tlsPort = Procs.freePort();
        // dual-protocol: the plain port stays up for the test harness's readiness probe and admin calls
        proxy = Procs.proxy(0, List.of("-Dmicronaut.server.dual-protocol=true",
                "-Dmicronaut.server.ssl.enabled=true", "-Dmicronaut.server.ssl.port=" + tlsPort,
                "-Dmicronaut.server.ssl.key-store.path=file:" + certs.keystore(),
                "-Dmicronaut.server.ssl.key-store.password=" + TestCerts.PASSWORD,
                "-Dmicronaut.server.ssl.key-store.type=PKCS12", "-Dtandem.proxy.health-interval=30s"));
        HttpResponse<String> added = proxy.post("/nodes/add", "{\"url\":\"http://127.0.0.1:"
                + node.getAddress().getPort() + "\",\"status\":{\"models\":[\"mock\"]}}");
        assertThat(added.statusCode()).as(added.body()).isEqualTo(200);
        trusting = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(certs.clientContext())
                .connectTimeout(Duration.ofSeconds(5)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (node != null) {
            node.stop(0);
        }
    }

    private static void answer(HttpExchange ex) throws IOException {
        String in = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        String path = ex.getRequestURI().getPath();
        if (path.equals("/v1/chat/completions") && in.contains("\"stream\":true")) {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                out.write((EVENT + EVENT + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            }
            return;
        }
        String json = path.equals("/v1/chat/completions") ? WHOLE
                : path.equals("/v1/models") ? "{\"object\":\"list\",\"data\":[{\"id\":\"mock\"}]}" : "{\"status\":\"ok\"}";
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    private static HttpResponse<String> overTls(HttpClient client, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + tlsPort + path))
                .timeout(Duration.ofSeconds(20));
        b = body == null ? b.GET() : b.header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void generationRoutes_answerOverTls_onTheFastPath_wholeAndStreamed() throws Exception {
        await().atMost(Duration.ofSeconds(20)).until(() -> overTls(trusting, "/v1/chat/completions", BODY + "false}")
                .statusCode() == 200);
        double before = proxy.metric("tandem_proxy_fast_path_requests_total", "");
        HttpResponse<String> whole = overTls(trusting, "/v1/chat/completions", BODY + "false}");
        assertThat(whole.statusCode()).as(whole.body()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(WHOLE);
        HttpResponse<String> stream = overTls(trusting, "/v1/chat/completions", BODY + "true}");
        assertThat(stream.statusCode()).isEqualTo(200);
        assertThat(stream.headers().firstValue("content-type")).hasValueSatisfying(
                v -> assertThat(v).startsWith("text/event-stream"));
        assertThat(stream.body()).isEqualTo(EVENT + EVENT + "data: [DONE]\n\n");
        HttpResponse<String> bad = overTls(trusting, "/v1/chat/completions", "{not json");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("\"error\"");
        assertThat(proxy.metric("tandem_proxy_fast_path_requests_total", "") - before).isEqualTo(3);
    }

    @Test
    void micronautRoutes_answerOverTls() throws Exception {
        HttpResponse<String> status = overTls(trusting, "/nodes/status", null);
        assertThat(status.statusCode()).isEqualTo(200);
        assertThat(status.body()).contains("127.0.0.1:" + node.getAddress().getPort());
        assertThat(overTls(trusting, "/health", null).statusCode()).isEqualTo(200);
    }

    @Test
    void clientThatDoesNotTrustTheCertificate_getsNoAnswer() {
        HttpClient plain = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        assertThatThrownBy(() -> overTls(plain, "/v1/chat/completions", BODY + "false}"))
                .isInstanceOf(SSLHandshakeException.class);
    }
}
