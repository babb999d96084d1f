package io.tandem.controller.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.sun.net.httpserver.HttpServer;

class HttpHealthProbeTest {
    private HttpServer server;
    private final AtomicInteger status = new AtomicInteger(200);
    private final CountDownLatch release = new CountDownLatch(1);
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(300)).build();

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/health", ex -> {
            ex.sendResponseHeaders(status.get(), -1);
            ex.close();
        });
        server.createContext("/agent/health", ex -> {
            ex.getResponseHeaders().set("X-Tandem-Weights-Version", "3f9a00c1d2e4b5a6");
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        server.createContext("/hang/health", ex -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        release.countDown();
        server.stop(0);
        client.close();
    }

    private String base() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Test
    void ok_isHealthy() {
        var probe = new HttpHealthProbe(client, Duration.ofSeconds(2));
        assertThat(probe.probe(base()).join().healthy()).isTrue();
    }

    @Test
    void agentNamingItsWeights_isHealthy_withThatVersion_othersNameNone() {
        var probe = new HttpHealthProbe(client, Duration.ofSeconds(2));
        assertThat(probe.probe(base() + "/agent").join().weightsVersion()).contains("3f9a00c1d2e4b5a6");
        assertThat(probe.probe(base()).join().weightsVersion()).isEmpty();
    }

    @Test
    void serverError_isUnhealthy() {
        status.set(503);
        var result = new HttpHealthProbe(client, Duration.ofSeconds(2)).probe(base()).join();
        assertThat(result.healthy()).isFalse();
        assertThat(result.reason()).contains("503");
    }

    @Test
    void hangingNode_timesOut() {
        var result = new HttpHealthProbe(client, Duration.ofMillis(200)).probe(base() + "/hang").join();
        assertThat(result.healthy()).isFalse();
        assertThat(result.reason()).contains("timed out");
    }

    @Test
    void closedPort_isUnhealthy() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        var result = new HttpHealthProbe(client, Duration.ofSeconds(1)).probe("http://127.0.0.1:" + port).join();
        assertThat(result.healthy()).isFalse();
    }
}
