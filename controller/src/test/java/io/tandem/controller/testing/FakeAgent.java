package io.tandem.controller.testing;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A fake engine agent on 127.0.0.1: answers {@code /health} and {@code /distserve/*} like LMDeploy's api_server
 * (engine_info double-encoded) and records every call with a global sequence number, so tests can check the order
 * of calls across several agents. Paths can be made to fail or to wait on a gate.
 */
public final class FakeAgent implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicInteger SEQUENCE = new AtomicInteger();

    /** One recorded call. */
    public record Call(int seq, String method, String path, JsonNode body) {}

    private final HttpServer server;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final List<Call> calls = new CopyOnWriteArrayList<>();
    private final Map<String, Integer> failures = new ConcurrentHashMap<>();
    private final Map<String, CountDownLatch> gates = new ConcurrentHashMap<>();
    private volatile int healthStatus = 200;
    private volatile boolean plainEngineInfo;
    private volatile String weightsVersion;

    public FakeAgent() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public List<Call> calls() {
        return List.copyOf(calls);
    }

    public List<Call> calls(String path) {
        return calls.stream().filter(c -> c.path().equals(path)).toList();
    }

    /** The next {@code times} calls to {@code path} answer {@code status}. */
    public void fail(String path, int status, int times) {
        failures.put(path, status * 1000 + times);
    }

    /** Calls to {@code path} wait until the returned latch is counted down. */
    public CountDownLatch gate(String path) {
        CountDownLatch latch = new CountDownLatch(1);
        gates.put(path, latch);
        return latch;
    }

    public void healthStatus(int status) {
        healthStatus = status;
    }

    /**
     * Act as our agent for weights: {@code /health} names {@code version} in {@code X-Tandem-Weights-Version} and
     * {@code /update_weights} answers {@code {"weights_version": version}}; null: neither (LMDeploy's api_server).
     */
    public void weightsVersion(String version) {
        weightsVersion = version;
    }

    /** Answer engine_info as a plain object instead of LMDeploy's JSON-in-a-string. */
    public void plainEngineInfo(boolean plain) {
        plainEngineInfo = plain;
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        JsonNode body = null;
        try (InputStream in = ex.getRequestBody()) {
            byte[] bytes = in.readAllBytes();
            if (bytes.length > 0) {
                body = JSON.readTree(bytes);
            }
        }
        calls.add(new Call(SEQUENCE.incrementAndGet(), ex.getRequestMethod(), path, body));
        CountDownLatch gate = gates.get(path);
        if (gate != null) {
            try {
                gate.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Integer failure = failures.get(path);
        if (failure != null) {
            int times = failure % 1000;
            if (times <= 1) {
                failures.remove(path);
            } else {
                failures.put(path, failure - 1);
            }
            respond(ex, failure / 1000, "{\"detail\":\"injected failure\"}");
            return;
        }
        switch (path) {
            case "/health" -> {
                String v = weightsVersion;
                if (v != null) {
                    ex.getResponseHeaders().add("X-Tandem-Weights-Version", v);
                }
                respond(ex, healthStatus, "");
            }
            case "/update_weights" -> {
                String v = weightsVersion;
                respond(ex, 200, v == null ? "{}" : "{\"weights_version\":\"" + v + "\"}");
            }
            case "/distserve/engine_info" -> {
                String config = "{\"tp_size\":1,\"dp_size\":1,\"pp_size\":1,\"ep_size\":1,\"dp_rank\":0,"
                        + "\"block_size\":64,\"num_cpu_blocks\":0,\"num_gpu_blocks\":512}";
                respond(ex, 200, plainEngineInfo ? config : JSON.writeValueAsString(config));
            }
            case "/distserve/p2p_initialize" -> respond(ex, 200, "{\"status\":\"SUCCESS\","
                    + "\"engine_endpoint_info\":{\"zmq_address\":\"tcp://127.0.0.1:" + server.getAddress().getPort() + "\"},"
                    + "\"kvtransfer_endpoint_info\":[{\"protocol\":2,\"endpoint_info\":\"rkey-of-" + url() + "\"}]}");
            default -> respond(ex, 200, "{}");
        }
    }

    private static void respond(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            ex.getResponseBody().write(bytes);
        }
        ex.close();
    }

    @Override
    public void close() {
        gates.values().forEach(CountDownLatch::countDown);
        server.stop(0);
        executor.shutdownNow();
    }
}
