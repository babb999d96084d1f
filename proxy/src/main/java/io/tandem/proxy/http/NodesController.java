package io.tandem.proxy.http;

import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Post;
import io.micronaut.http.annotation.Produces;
import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.registry.NodeSnapshot;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.controller.registry.NodeStatus;
import io.tandem.proxy.config.ProxyConfig;
import io.tandem.proxy.errors.BadRequestException;
import io.tandem.proxy.upstream.UpstreamClient;
import reactor.core.publisher.Mono;

/**
 * LMDeploy's node management, {@code /nodes/*}, field for field: bodies are {@code {"url", "status"}} with
 * LMDeploy's Status; answers are LMDeploy's strings. Guarded by the admin key (SecurityFilter). Non-blocking: the
 * controller and node calls return futures.
 */
@Controller("/nodes")
public class NodesController {
    private final io.tandem.controller.Controller controller;
    private final UpstreamClient upstream;
    private final ProxyConfig config;
    private final ObjectMapper json = new ObjectMapper();

    public NodesController(io.tandem.controller.Controller controller, UpstreamClient upstream, ProxyConfig config) {
        this.controller = controller;
        this.upstream = upstream;
        this.config = config;
    }

    /** The request body of add, remove and terminate. */
    record NodeRequest(String url, NodeStatus status) {}

    /**
     * Adds a node. Without {@code status.models} the node's {@code /v1/models} is asked (as LMDeploy does), so
     * {@code {"url": "http://host:23333"}} is enough for a hybrid node; prefill and decode nodes give
     * {@code status.role} (2 or 3).
     */
    @Post(uri = "/add", consumes = MediaType.ALL)
    public Mono<String> add(@Body byte[] body) {
        NodeRequest req = parse(body);
        String url = NodeSpec.normalizeUrl(req.url());
        NodeStatus given = req.status() != null ? req.status() : new NodeStatus(null, null, null, 0, null);
        CompletableFuture<NodeStatus> status = !given.models().isEmpty() ? CompletableFuture.completedFuture(given)
                : listModels(url).thenApply(models -> new NodeStatus(given.role(), models, given.speed(),
                        given.unfinished(), given.latency()));
        return Mono.fromFuture(status.thenCompose(s -> controller.addNode(url, s)))
                .thenReturn("\"Added successfully\"");
    }

    @Post(uri = "/remove", consumes = MediaType.ALL)
    public Mono<String> remove(@Body byte[] body) {
        NodeRequest req = parse(body);
        return Mono.fromFuture(controller.removeNode(req.url())).thenReturn("\"Deleted successfully\"");
    }

    /**
     * LMDeploy's url -> Status map, each Status with health, circuit, load, KV usage and the weights version (the
     * node's, the one expected of it, and whether they differ) added.
     */
    @Get("/status")
    public Map<String, Object> status() {
        Instant now = Instant.now();
        Map<String, Object> out = new LinkedHashMap<>();
        for (NodeSnapshot n : controller.nodes()) {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("role", n.role().wire());
            s.put("models", n.models());
            s.put("speed", n.speed());
            s.put("unfinished", n.unfinished());
            s.put("latency", n.latencies());
            s.put("health", n.health().name().toLowerCase());
            s.put("health_reason", n.healthReason());
            s.put("routable", n.isRoutable(now));
            s.put("circuit", n.circuit().name().toLowerCase());
            s.put("attached", n.attached());
            s.put("draining", n.draining());
            s.put("sleeping", n.sleeping());
            s.put("source", n.source().name().toLowerCase());
            s.put("weights_version", n.weightsVersion().orElse(null));
            s.put("expected_weights_version", n.expectedWeights().orElse(null));
            s.put("stale_weights", n.staleWeights());
            n.load().ifPresent(l -> {
                Map<String, Object> load = new LinkedHashMap<>();
                load.put("running", l.running());
                load.put("waiting", l.waiting());
                load.put("kv_blocks_used", l.kvBlocksUsed());
                load.put("kv_blocks_free", l.kvBlocksFree());
                load.put("kv_usage", l.kvUsage());
                load.put("tokens_per_second", l.tokensPerSecond());
                load.put("reported_at", l.reportedAt().toString());
                s.put("load", load);
            });
            out.put(n.url(), s);
        }
        return out;
    }

    /** Asks the node to shut down ({@code GET /terminate} on it, LMDeploy's call) and removes it. */
    @Post(uri = "/terminate", consumes = MediaType.ALL)
    public Mono<String> terminate(@Body byte[] body) {
        NodeRequest req = parse(body);
        String url = NodeSpec.normalizeUrl(req.url());
        if (controller.node(url).isEmpty()) {
            return Mono.error(new io.tandem.controller.errors.NodeNotFoundException("url: " + url
                    + " (not in the pool; see /nodes/status)"));
        }
        return Mono.fromFuture(terminateOne(url)).thenReturn("\"Terminated successfully\"");
    }

    @Get("/terminate_all")
    @Produces(MediaType.APPLICATION_JSON)
    public Mono<String> terminateAll() {
        List<CompletableFuture<?>> all = new ArrayList<>();
        for (NodeSnapshot n : controller.nodes()) {
            all.add(terminateOne(n.url()));
        }
        return Mono.fromFuture(CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)))
                .thenReturn("\"All nodes terminated\"");
    }

    private CompletableFuture<?> terminateOne(String url) {
        return upstream.get(url + "/terminate", config.nodeAdmin())
                .handle((r, e) -> null) // a node that dies before answering has done what was asked
                .thenCompose(x -> controller.removeNode(url));
    }

    private CompletableFuture<List<String>> listModels(String url) {
        return upstream.get(url + "/v1/models", config.token()).handle((r, e) -> {
            if (e != null || r.status() != 200) {
                throw new InvalidNodeException("url: " + url + " (cannot list its models: "
                        + (e != null ? e.getCause() != null ? e.getCause() : e : "HTTP " + r.status())
                        + "; give status.models)");
            }
            List<String> models = new ArrayList<>();
            try {
                for (JsonNode m : json.readTree(r.body()).path("data")) {
                    models.add(m.path("id").asText());
                }
            } catch (IOException ex) {
                throw new InvalidNodeException("url: " + url + " (its /v1/models is not JSON)");
            }
            return models;
        });
    }

    private NodeRequest parse(byte[] body) {
        NodeRequest req;
        try {
            req = json.readValue(body, NodeRequest.class);
        } catch (IOException e) {
            Throwable c = e.getCause();
            if (c instanceof InvalidNodeException ine) {
                throw ine;
            }
            throw new BadRequestException("body: " + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + " (expected: {\"url\": ..., \"status\": {...}})");
        }
        if (req == null || req.url() == null || req.url().isBlank()) {
            throw new BadRequestException("url: required (expected: {\"url\": \"http://host:port\"})");
        }
        return req;
    }

}
