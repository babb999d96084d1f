package io.tandem.controller.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import com.sun.net.httpserver.HttpServer;

/**
 * The subset of Consul's HTTP API the controller reads, on 127.0.0.1: {@code GET /v1/health/service/NAME} with
 * Consul's blocking-query rules (a request whose {@code index} is the current X-Consul-Index waits up to {@code wait}
 * for a change) and {@code passing} (instances whose check is critical are left out). Records every request.
 */
public final class FakeConsul implements AutoCloseable {
    private final HttpServer server;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final Object lock = new Object();
    // @GuardedBy("lock")
    private List<Instance> instances = List.of();
    // @GuardedBy("lock")
    private long index = 42;
    private volatile int status = 200;

    /** One service instance of the catalog and whether its check passes. */
    public record Instance(String json, boolean passing) {}

    public FakeConsul() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(executor);
        server.createContext("/v1/", ex -> {
            String query = ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery();
            requests.add(ex.getRequestMethod() + " " + ex.getRequestURI());
            Map<String, String> params = params(query);
            String body;
            long answeredIndex;
            synchronized (lock) {
                if (status == 200 && params.containsKey("index") && Long.parseLong(params.get("index")) == index) {
                    awaitChange(Duration.ofSeconds(Long.parseLong(params.getOrDefault("wait", "300s").replace("s", ""))));
                }
                boolean passingOnly = params.containsKey("passing");
                body = ex.getRequestURI().getPath().startsWith("/v1/health/service/")
                        ? "[" + String.join(",", instances.stream().filter(i -> i.passing() || !passingOnly)
                                .map(Instance::json).toList()) + "]"
                        : "[]";
                answeredIndex = index;
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.getResponseHeaders().add("X-Consul-Index", Long.toString(answeredIndex));
            ex.getResponseHeaders().add("X-Consul-Knownleader", "true");
            ex.getResponseHeaders().add("X-Consul-Lastcontact", "0");
            ex.sendResponseHeaders(status, bytes.length);
            ex.getResponseBody().write(bytes);
            ex.close();
        });
        server.start();
    }

    // @GuardedBy("lock")
    private void awaitChange(Duration wait) {
        long until = System.currentTimeMillis() + wait.toMillis();
        long seen = index;
        while (index == seen && System.currentTimeMillis() < until) {
            try {
                lock.wait(Math.max(1, until - System.currentTimeMillis()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private static Map<String, String> params(String query) {
        Map<String, String> out = new HashMap<>();
        for (String kv : query.split("&")) {
            if (!kv.isEmpty()) {
                int eq = kv.indexOf('=');
                out.put(eq < 0 ? kv : kv.substring(0, eq), eq < 0 ? "" : kv.substring(eq + 1));
            }
        }
        return out;
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    public List<String> requests() {
        return requests;
    }

    /** Every later answer has this status (500: Consul failing). */
    public void status(int status) {
        this.status = status;
    }

    /** Replaces the catalog, as a Consul change does: the index moves and blocked queries return. */
    public void catalog(Instance... now) {
        synchronized (lock) {
            instances = List.of(now);
            index++;
            lock.notifyAll();
        }
    }

    /** A passing instance of service tandem-agent on node address 10.9.9.9. */
    public static Instance instance(String id, String address, int port, String... tags) {
        return instance(true, id, address, port, tags);
    }

    public static Instance instance(boolean passing, String id, String address, int port, String... tags) {
        return new Instance("""
                {"Node":{"ID":"n1","Node":"host-%1$s","Address":"10.9.9.9","Datacenter":"dc1",
                         "TaggedAddresses":{"lan":"10.9.9.9","wan":"10.9.9.9"},"Meta":{},"CreateIndex":1,"ModifyIndex":1},
                 "Service":{"ID":"%1$s","Service":"tandem-agent","Tags":[%4$s],"Address":"%2$s","Meta":{},
                            "Port":%3$d,"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,
                            "CreateIndex":1,"ModifyIndex":1},
                 "Checks":[{"Node":"host-%1$s","CheckID":"service:%1$s","Name":"health","Status":"%5$s",
                            "Notes":"","Output":"","ServiceID":"%1$s","ServiceName":"tandem-agent",
                            "ServiceTags":[],"CreateIndex":1,"ModifyIndex":1}]}
                """.formatted(id, address, port,
                String.join(",", java.util.Arrays.stream(tags).map(t -> "\"" + t + "\"").toList()),
                passing ? "passing" : "critical"), passing);
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
