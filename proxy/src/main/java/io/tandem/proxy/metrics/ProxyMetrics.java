package io.tandem.proxy.metrics;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import io.tandem.controller.Controller;
import io.tandem.controller.ControllerMetrics;
import io.tandem.controller.registry.Health;
import io.tandem.controller.registry.NodeSnapshot;
import jakarta.inject.Singleton;

/**
 * The proxy's Prometheus series, written by hand in the text format (no registry library: the proxy's hot path
 * only bumps {@link LongAdder}s). Label values are node urls, routes and status codes, all bounded sets.
 * Thread-safe.
 */
@Singleton
public class ProxyMetrics {
    private final Controller controller;
    // Keyed by the raw label values, not by label text: the hot path (several calls per request) looks a series up
    // without building strings; the text is written at scrape time only.
    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<RouteStatus, LongAdder> errors = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> retries = new ConcurrentHashMap<>();
    private final Map<NodeStage, LongAdder> nodeRequests = new ConcurrentHashMap<>();
    private final Map<NodeStage, LongAdder> nodeFailures = new ConcurrentHashMap<>();
    private final Map<String, Histogram> requestLatency = new ConcurrentHashMap<>();
    private final Map<NodeStage, Histogram> nodeLatency = new ConcurrentHashMap<>();
    private final Map<String, Histogram> ttft = new ConcurrentHashMap<>();
    private final Histogram prefill = new Histogram();
    private final Histogram migration = new Histogram();
    private final LongAdder streamErrors = new LongAdder();
    private final LongAdder clientDisconnects = new LongAdder();
    private final LongAdder quotaRejected = new LongAdder();
    private final LongAdder authRejected = new LongAdder();
    private final LongAdder fastPath = new LongAdder();

    public ProxyMetrics(Controller controller) {
        this.controller = controller;
    }

    public void request(String route) {
        count(requests, route);
    }

    public void error(String route, int status) {
        count(errors, new RouteStatus(route, status));
    }

    public void retry(String route) {
        count(retries, route);
    }

    public void requestLatency(String route, Duration d) {
        histogram(requestLatency, route).observe(seconds(d));
    }

    public void timeToFirstToken(String route, Duration d) {
        histogram(ttft, route).observe(seconds(d));
    }

    /** A node finished its part of a request ({@code stage}: hybrid, prefill or decode). */
    public void nodeDone(String node, String stage, Duration d) {
        NodeStage l = new NodeStage(node, stage);
        count(nodeRequests, l);
        histogram(nodeLatency, l).observe(seconds(d));
    }

    public void nodeFailed(String node, String stage) {
        NodeStage l = new NodeStage(node, stage);
        count(nodeRequests, l);
        count(nodeFailures, l);
    }

    public void prefill(Duration d) {
        prefill.observe(seconds(d));
    }

    /** DistServe: from the decode request sent to its first byte (KV migration plus the first token). */
    public void migration(Duration d) {
        migration.observe(seconds(d));
    }

    public void streamError() {
        streamErrors.increment();
    }

    public void clientDisconnect() {
        clientDisconnects.increment();
    }

    public void quotaRejected() {
        quotaRejected.increment();
    }

    /** A generation request served by the Netty fast path ({@code io.tandem.proxy.http.GenerationHandler}). */
    public void fastPath() {
        fastPath.increment();
    }

    public void authRejected() {
        authRejected.increment();
    }

    /** The Prometheus text exposition (format 0.0.4). */
    public String scrape() {
        StringBuilder out = new StringBuilder(4096);
        counters(out, "tandem_proxy_requests_total", "Generation requests received", requests);
        counters(out, "tandem_proxy_errors_total", "Generation requests answered with an error status", errors);
        counters(out, "tandem_proxy_retries_total", "Requests moved to another node before their first byte",
                retries);
        counters(out, "tandem_proxy_node_requests_total", "Requests (or stages) sent to each node", nodeRequests);
        counters(out, "tandem_proxy_node_failures_total", "Requests a node failed (connection, 5xx, broken stream)",
                nodeFailures);
        histograms(out, "tandem_proxy_request_duration_seconds", "Whole request latency at the proxy",
                requestLatency);
        histograms(out, "tandem_proxy_node_request_duration_seconds", "Latency of each node's part", nodeLatency);
        histograms(out, "tandem_proxy_time_to_first_token_seconds",
                "Streaming: from request arrival to the first byte of the answer", ttft);
        help(out, "tandem_proxy_prefill_duration_seconds", "DistServe prefill request latency", "histogram");
        prefill.write(out, "tandem_proxy_prefill_duration_seconds", "");
        help(out, "tandem_proxy_migration_duration_seconds",
                "DistServe: decode request sent to its first byte (KV migration and first token)", "histogram");
        migration.write(out, "tandem_proxy_migration_duration_seconds", "");
        single(out, "tandem_proxy_stream_errors_total", "Streams ended with an error event after their first byte",
                streamErrors.sum());
        single(out, "tandem_proxy_client_disconnects_total", "Requests whose client went away (aborted on the node)",
                clientDisconnects.sum());
        single(out, "tandem_proxy_quota_rejected_total", "Requests answered 429 by the per-client quota",
                quotaRejected.sum());
        single(out, "tandem_proxy_auth_rejected_total", "Requests answered 401/403", authRejected.sum());
        single(out, "tandem_proxy_fast_path_requests_total",
                "Generation requests served by the Netty fast path, not Micronaut's router", fastPath.sum());

        Instant now = Instant.now();
        help(out, "tandem_proxy_node_healthy", "1 if the node is routable now", "gauge");
        for (NodeSnapshot n : controller.nodes()) {
            out.append("tandem_proxy_node_healthy{").append(nodeLabels(n)).append("} ")
                    .append(n.isRoutable(now) && n.health() != Health.UNHEALTHY ? 1 : 0).append('\n');
        }
        help(out, "tandem_proxy_node_unfinished", "Requests routed to the node and not finished", "gauge");
        for (NodeSnapshot n : controller.nodes()) {
            out.append("tandem_proxy_node_unfinished{").append(nodeLabels(n)).append("} ").append(n.unfinished())
                    .append('\n');
        }
        help(out, "tandem_proxy_node_kv_usage", "KV cache in use, 0..1 (attached agents only)", "gauge");
        for (NodeSnapshot n : controller.nodes()) {
            n.load().ifPresent(l -> out.append("tandem_proxy_node_kv_usage{").append(nodeLabels(n)).append("} ")
                    .append(l.kvUsage()).append('\n'));
        }
        ControllerMetrics c = controller.metrics();
        single(out, "tandem_controller_picks_total", "Routing decisions", c.picks());
        single(out, "tandem_controller_pick_failures_total", "Routing decisions that found no node", c.pickFailures());
        single(out, "tandem_controller_pair_retries_total", "Picks retried after a pairing failure", c.pairRetries());
        single(out, "tandem_controller_health_checks_failed_total", "Failed health probes", c.healthChecksFailed());
        single(out, "tandem_controller_streams_broken_total", "Agent control streams that broke", c.streamsBroken());
        single(out, "tandem_controller_consul_failed_reads_total", "Consul catalog reads that failed",
                c.consulPollFailures());
        single(out, "tandem_controller_sessions_freed_total", "Prefill sessions freed by gc or node removal",
                c.sessionsFreed());
        gauge(out, "tandem_controller_nodes", "Nodes in the pool", c.nodes());
        gauge(out, "tandem_controller_routable_nodes", "Nodes routable now", c.routableNodes());
        gauge(out, "tandem_controller_connected_pairs", "Connected prefill/decode pairs", c.connectedPairs());
        gauge(out, "tandem_controller_tracked_sessions", "Prefill sessions awaiting their decode", c.trackedSessions());
        return out.toString();
    }

    private static String nodeLabels(NodeSnapshot n) {
        return label("node", n.url()) + "," + label("role", n.role().displayName().toLowerCase());
    }

    /** A series' labels, written as {@code k="v",...} at scrape time. */
    private sealed interface Labels permits RouteStatus, NodeStage {
        String text();
    }

    private record RouteStatus(String route, int status) implements Labels {
        @Override
        public String text() {
            return label("route", route) + "," + label("status", Integer.toString(status));
        }
    }

    private record NodeStage(String node, String stage) implements Labels {
        @Override
        public String text() {
            return label("node", node) + "," + label("stage", stage);
        }
    }

    /** The label text of a key: a route's, or that of a {@link Labels} record. */
    private static String labels(Object key) {
        return key instanceof Labels l ? l.text() : label("route", (String) key);
    }

    private static void counters(StringBuilder out, String name, String help, Map<?, LongAdder> series) {
        help(out, name, help, "counter");
        TreeMap<String, LongAdder> sorted = new TreeMap<>();
        series.forEach((k, v) -> sorted.put(labels(k), v));
        sorted.forEach((l, v) -> out.append(name).append('{').append(l).append("} ").append(v.sum()).append('\n'));
    }

    private static void histograms(StringBuilder out, String name, String help, Map<?, Histogram> series) {
        help(out, name, help, "histogram");
        TreeMap<String, Histogram> sorted = new TreeMap<>();
        series.forEach((k, h) -> sorted.put(labels(k), h));
        sorted.forEach((l, h) -> h.write(out, name, l));
    }

    private static void single(StringBuilder out, String name, String help, long value) {
        help(out, name, help, "counter");
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, long value) {
        help(out, name, help, "gauge");
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void help(StringBuilder out, String name, String help, String type) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static <K> void count(Map<K, LongAdder> m, K key) {
        LongAdder a = m.get(key); // get first: computeIfAbsent may lock the bin even when the key is present
        if (a == null) {
            a = m.computeIfAbsent(key, k -> new LongAdder());
        }
        a.increment();
    }

    private static <K> Histogram histogram(Map<K, Histogram> m, K key) {
        Histogram h = m.get(key);
        return h != null ? h : m.computeIfAbsent(key, k -> new Histogram());
    }

    private static String label(String k, String v) {
        return k + "=\"" + v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    private static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }
}
