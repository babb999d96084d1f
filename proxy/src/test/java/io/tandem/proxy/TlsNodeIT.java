package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;

import javax.net.ssl.SSLContext;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An {@code https} node behind the proxy: with the node's CA in the proxy's trust store (the JDK's
 * {@code javax.net.ssl.trustStore}, set through {@code TANDEM_JAVA_OPTS} in production; docs/operations.md) health
 * probes and generation requests, whole and streamed, go over TLS; a proxy that does not trust the certificate
 * answers 502/503 and does not send the request in the clear.
 */
class TlsNodeIT {
    static final String WHOLE = "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
            + "\"message\":{\"role\":\"assistant\",\"content\":\"over tls\"},\"finish_reason\":\"stop\"}]}";
    static final String EVENT = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tls\"}}]}\n\n";
    static final String BODY = "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":";

    static HttpsServer node;
    static Procs.Proc trusting;
    static Procs.Proc untrusting;
    static volatile int generations;

    @BeforeAll
    static void start() throws Exception {
        TestCerts certs = TestCerts.create(Procs.ROOT.resolve("proxy/target/it-tls"), "node");
        Path truststore = certs.truststore();
        SSLContext ssl = certs.serverContext();
        node = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        node.setHttpsConfigurator(new HttpsConfigurator(ssl));
        node.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        node.createContext("/", TlsNodeIT::answer);
        node.start();

        trusting = Procs.proxy(0, List.of("-Djavax.net.ssl.trustStore=" + truststore,
                "-Djavax.net.ssl.trustStorePassword=changeit", "-Dtandem.proxy.health-interval=1s"));
        untrusting = Procs.proxy(0, List.of("-Dtandem.proxy.health-interval=1s"));
        for (Procs.Proc p : List.of(trusting, untrusting)) {
            HttpResponse<String> added = p.post("/nodes/add", "{\"url\":\"" + nodeUrl()
                    + "\",\"status\":{\"models\":[\"mock\"]}}");
            assertThat(added.statusCode()).as(added.body()).isEqualTo(200);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {trusting, untrusting}) {
            if (p != null) {
                p.close();
            }
        }
        if (node != null) {
            node.stop(0);
        }
    }

    static String nodeUrl() {
        return "https://127.0.0.1:" + node.getAddress().getPort();
    }

    private static void answer(HttpExchange ex) throws IOException {
        byte[] in = ex.getRequestBody().readAllBytes();
        String path = ex.getRequestURI().getPath();
        if (path.equals("/v1/chat/completions")) {
            generations++;
            if (new String(in, StandardCharsets.UTF_8).contains("\"stream\":true")) {
                ex.getResponseHeaders().set("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write((EVENT + EVENT + "data: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
                }
                return;
            }
            reply(ex, WHOLE);
            return;
        }
        reply(ex, path.equals("/v1/models") ? "{\"object\":\"list\",\"data\":[{\"id\":\"mock\"}]}" : "{\"status\":\"ok\"}");
    }

    private static void reply(HttpExchange ex, String json) throws IOException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }

    @Test
    void trustedNode_servesOverTls_wholeAndStreamed() throws Exception {
        await().atMost(Duration.ofSeconds(20)).until(() -> trusting.post("/v1/chat/completions", BODY + "false}")
                .statusCode() == 200);
        HttpResponse<String> whole = trusting.post("/v1/chat/completions", BODY + "false}");
        assertThat(whole.statusCode()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(WHOLE);
        HttpResponse<String> stream = trusting.post("/v1/chat/completions", BODY + "true}");
        assertThat(stream.statusCode()).isEqualTo(200);
        assertThat(stream.body()).isEqualTo(EVENT + EVENT + "data: [DONE]\n\n");
        assertThat(trusting.get("/nodes/status").body()).contains(nodeUrl());
    }

    @Test
    void untrustedCertificate_isAnError_notAPlainTextFallback() throws Exception {
        int before = generations;
        HttpResponse<String> r = untrusting.post("/v1/chat/completions", BODY + "false}");
        assertThat(r.statusCode()).as(r.body()).isIn(502, 503);
        assertThat(r.body()).contains("\"error\"");
        assertThat(generations).as("no request reached the node without TLS trust").isEqualTo(before);
    }
}
