package io.tandem.proxy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A prefill or decode engine that speaks LMDeploy's DistServe protocol on 127.0.0.1 and computes with a real
 * hybrid agent behind it, until the agent's own prefill/decode roles are in this branch. As prefill it forwards
 * the request (max_tokens=1) and adds {@code cache_block_ids} and {@code remote_token_ids}; as decode it checks
 * nothing itself, records the {@code migration_request} and forwards the original request, streaming the agent's
 * answer through chunk by chunk. Every chat/completion body, free_cache and abort_request is recorded.
 */
final class FakeDistServeNode implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<Integer> BLOCKS = List.of(7, 8, 9);
    static final int FIRST_TOKEN = 4242;

    enum Role { PREFILL, DECODE }

    final Role role;
    final String agent;
    final HttpServer server;
    final List<ObjectNode> requests = new CopyOnWriteArrayList<>();
    final List<ObjectNode> freed = new CopyOnWriteArrayList<>();
    final List<ObjectNode> aborted = new CopyOnWriteArrayList<>();
    /** Close generation connections without answering (a node that dies before its first byte). */
    volatile boolean dropGenerations;

    FakeDistServeNode(Role role, String agentBase) throws IOException {
        this.role = role;
        this.agent = agentBase;
        this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        byte[] body = ex.getRequestBody().readAllBytes();
        try {
            switch (path) {
                case "/health" -> respond(ex, 200, "{}");
                case "/v1/models" -> respond(ex, 200, Procs.HTTP.send(HttpRequest.newBuilder(URI.create(agent
                        + path)).build(), HttpResponse.BodyHandlers.ofString()).body());
                case "/distserve/engine_info" -> respond(ex, 200, JSON.writeValueAsString(
                        "{\"tp_size\":1,\"dp_size\":1,\"pp_size\":1,\"ep_size\":1,\"dp_rank\":0,"
                                + "\"block_size\":16,\"num_cpu_blocks\":0,\"num_gpu_blocks\":160}"));
                case "/distserve/p2p_initialize" -> respond(ex, 200, "{\"status\":\"SUCCESS\","
                        + "\"engine_endpoint_info\":{\"zmq_address\":\"tcp://127.0.0.1:1\"},"
                        + "\"kvtransfer_endpoint_info\":[{\"protocol\":2,\"endpoint_info\":\"fake\"}]}");
                case "/distserve/free_cache" -> {
                    freed.add((ObjectNode) JSON.readTree(body));
                    respond(ex, 200, "{}");
                }
                case "/abort_request" -> {
                    aborted.add((ObjectNode) JSON.readTree(body));
                    respond(ex, 200, forward("/abort_request", body).body().readAllBytes());
                }
                case "/v1/chat/completions", "/v1/completions" -> generate(ex, path, body);
                default -> respond(ex, 200, "{}");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ex.close();
        }
    }

    private void generate(HttpExchange ex, String path, byte[] body) throws IOException, InterruptedException {
        ObjectNode req = (ObjectNode) JSON.readTree(body);
        requests.add(req);
        if (dropGenerations) {
            ex.close(); // no status line: the client sees the connection end
            return;
        }
        if (role == Role.PREFILL) {
            // The hybrid agent behind refuses to keep blocks (409: that is the prefill role's job): ask it to compute.
            ObjectNode compute = req.deepCopy();
            compute.remove(List.of("with_cache", "preserve_cache"));
            HttpResponse<InputStream> r = forward(path, JSON.writeValueAsBytes(compute));
            ObjectNode answer = (ObjectNode) JSON.readTree(r.body());
            answer.putPOJO("cache_block_ids", BLOCKS);
            answer.putPOJO("remote_token_ids", List.of(FIRST_TOKEN));
            respond(ex, r.statusCode(), JSON.writeValueAsString(answer));
            return;
        }
        ObjectNode forwarded = req.deepCopy();
        forwarded.remove("migration_request");
        HttpResponse<InputStream> r = forward(path, JSON.writeValueAsBytes(forwarded));
        ex.getResponseHeaders().add("Content-Type", r.headers().firstValue("content-type").orElse("application/json"));
        ex.sendResponseHeaders(r.statusCode(), 0);
        try (InputStream in = r.body(); OutputStream out = ex.getResponseBody()) {
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException clientGone) {
            // the proxy went away: closing the agent's stream (try-with-resources) aborts it there
        }
    }

    private HttpResponse<InputStream> forward(String path, byte[] body) throws IOException, InterruptedException {
        return Procs.HTTP.send(HttpRequest.newBuilder(URI.create(agent + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
    }

    private static void respond(HttpExchange ex, int status, String body) throws IOException {
        respond(ex, status, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void respond(HttpExchange ex, int status, byte[] bytes) throws IOException {
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            ex.getResponseBody().write(bytes);
        }
        ex.close();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
