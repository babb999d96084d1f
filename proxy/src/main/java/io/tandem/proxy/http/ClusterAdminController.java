package io.tandem.proxy.http;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.micronaut.core.annotation.Nullable;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Post;
import io.micronaut.http.annotation.QueryValue;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.controller.NodeResult;
import io.tandem.controller.WeightUpdate;
import io.tandem.proxy.errors.BadRequestException;
import reactor.core.publisher.Mono;

/**
 * The agents' management API for the whole cluster (for RL trainers): {@code POST /update_weights},
 * {@code POST /sleep}, {@code POST /wakeup}, {@code GET /is_sleeping}, each on every node of {@code model} (all
 * nodes without one). Admin routes (SecurityFilter). What happens on the nodes: {@code ClusterAdmin} in the
 * controller; the wire format: docs/api.md "Cluster-wide management".
 *
 * <p>Answers: 200 with a per-node report when every node did it; when some did not, the same report plus an
 * OpenAI-style {@code error}, with 400 when every failure was a node refusing the body (4xx) and 502 otherwise.
 * Runs on the blocking executor: a weight bucket is up to the request size limit, too much JSON for an event loop.
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class ClusterAdminController {
    /** Fields of {@code /update_weights} that are the proxy's; the rest is the agents' body, forwarded as is. */
    static final Set<String> PROXY_FIELDS = Set.of("model", "rolling", "drain_timeout_ms");
    static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    private static final Set<String> LOAD_FORMATS = Set.of("safetensors", "flattened_bucket", "base64", "path", "file");

    private final io.tandem.controller.Controller controller;
    /** A bucket is one base64 string as long as the request allows (Jackson's own cap, 20M characters, is less). */
    private final ObjectMapper json = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(Integer.MAX_VALUE).build())
            .build());

    public ClusterAdminController(io.tandem.controller.Controller controller) {
        this.controller = controller;
    }

    /**
     * LMDeploy's UpdateParamsRequest plus {@code model} (default: every node), {@code rolling} (default true: one
     * node at a time) and {@code drain_timeout_ms} (default 30000: how long a drained node's requests may run
     * before its update is sent anyway).
     */
    @Post(uri = "/update_weights", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Mono<MutableHttpResponse<Map<String, Object>>> updateWeights(@Body byte[] body) {
        ObjectNode req = object(body);
        Optional<String> model = model(req.get("model"));
        boolean rolling = bool(req, "rolling", true);
        boolean finished = bool(req, "finished", false);
        JsonNode timeout = req.get("drain_timeout_ms");
        long drainMs = DEFAULT_DRAIN_TIMEOUT.toMillis();
        if (timeout != null && !timeout.isNull()) {
            if (!timeout.canConvertToLong() || !timeout.isIntegralNumber() || timeout.asLong() < 0) {
                throw new BadRequestException("drain_timeout_ms: " + timeout + " (expected: an integer >= 0)");
            }
            drainMs = timeout.asLong();
        }
        checkTensors(req.get("serialized_named_tensors"), finished);
        JsonNode format = req.get("load_format");
        if (format != null && !format.isNull() && !(format.isTextual() && LOAD_FORMATS.contains(format.asText()))) {
            throw new BadRequestException("load_format: " + format + " (expected: one of " + LOAD_FORMATS + ")");
        }
        req.remove(PROXY_FIELDS);
        byte[] nodeBody;
        try {
            nodeBody = json.writeValueAsBytes(req);
        } catch (IOException e) {
            throw new IllegalStateException("cannot re-encode the update body", e);
        }
        WeightUpdate update = new WeightUpdate(model, nodeBody, finished, rolling, Duration.ofMillis(drainMs));
        return Mono.fromFuture(controller.updateWeights(update)).map(results -> {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model", model.orElse(null));
            out.put("finished", finished);
            out.put("rolling", rolling);
            return report("update_weights", out, results);
        });
    }

    /** LMDeploy's {@code POST /sleep?level=1|2}, on every node of {@code model}. */
    @Post(uri = "/sleep", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Mono<MutableHttpResponse<Map<String, Object>>> sleep(@Nullable @QueryValue("level") String level,
                                                               @Nullable @QueryValue("model") String model) {
        int lv;
        try {
            lv = level == null || level.isBlank() ? 1 : Integer.parseInt(level.strip());
        } catch (NumberFormatException e) {
            lv = -1;
        }
        if (lv != 1 && lv != 2) {
            throw new BadRequestException("level: '" + level + "' (expected: 1 or 2)");
        }
        int chosen = lv;
        return Mono.fromFuture(controller.sleep(model(model), chosen)).map(results -> {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("level", chosen);
            return report("sleep", out, results);
        });
    }

    /** LMDeploy's {@code POST /wakeup?tags=weights&tags=kv_cache} (none = everything), on every node of {@code model}. */
    @Post(uri = "/wakeup", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Mono<MutableHttpResponse<Map<String, Object>>> wakeup(@Nullable @QueryValue("tags") List<String> tags,
                                                                @Nullable @QueryValue("model") String model) {
        List<String> set = new ArrayList<>();
        for (String t : tags == null ? List.<String>of() : tags) {
            for (String one : t.split(",")) {
                String s = one.strip();
                if (!s.isEmpty() && !set.contains(s)) {
                    if (!s.equals("weights") && !s.equals("kv_cache")) {
                        throw new BadRequestException("tags: '" + s + "' (expected: weights or kv_cache)");
                    }
                    set.add(s);
                }
            }
        }
        return Mono.fromFuture(controller.wakeUp(model(model), set))
                .map(results -> report("wakeup", new LinkedHashMap<>(), results));
    }

    /** Each node's {@code is_sleeping}, and {@code is_sleeping: true} when every node of the model sleeps. */
    @Get(uri = "/is_sleeping", produces = MediaType.APPLICATION_JSON)
    public Mono<MutableHttpResponse<Map<String, Object>>> isSleeping(@Nullable @QueryValue("model") String model) {
        return Mono.fromFuture(controller.isSleeping(model(model))).map(results -> {
            Map<String, Object> byNode = new LinkedHashMap<>();
            boolean all = true;
            for (NodeResult r : results) {
                Boolean asleep = null;
                if (r.done()) {
                    try {
                        asleep = json.readTree(r.detail()).path("is_sleeping").asBoolean(false);
                    } catch (IOException e) {
                        asleep = null;
                    }
                }
                all &= Boolean.TRUE.equals(asleep);
                byNode.put(r.url(), asleep);
            }
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("is_sleeping", all);
            out.put("by_node", byNode);
            return report("is_sleeping", out, results);
        });
    }

    /** {@code head} plus the per-node report; the status and an {@code error} object when a node did not do it. */
    private static MutableHttpResponse<Map<String, Object>> report(String what, Map<String, Object> head,
                                                                   List<NodeResult> results) {
        List<Map<String, Object>> nodes = new ArrayList<>();
        int failed = 0;
        boolean onlyRefusals = true;
        for (NodeResult r : results) {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("url", r.url());
            n.put("outcome", r.outcome().name().toLowerCase());
            n.put("status", r.status());
            n.put("detail", r.detail());
            r.idle().ifPresent(i -> n.put("idle", i));
            n.put("in_rotation", r.inRotation());
            nodes.add(n);
            if (r.outcome() == NodeResult.Outcome.FAILED) {
                failed++;
                onlyRefusals &= r.status() / 100 == 4;
            }
        }
        Map<String, Object> out = new LinkedHashMap<>(head);
        out.put("nodes", nodes);
        if (failed == 0) {
            return HttpResponse.ok(out);
        }
        HttpStatus status = onlyRefusals ? HttpStatus.BAD_REQUEST : HttpStatus.BAD_GATEWAY;
        NodeResult first = results.stream().filter(r -> r.outcome() == NodeResult.Outcome.FAILED).findFirst()
                .orElseThrow();
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", what + " failed on " + failed + " of " + results.size() + " nodes; first: " + first.url()
                + ": " + first.detail());
        error.put("type", onlyRefusals ? "invalid_request_error" : "upstream_error");
        error.put("code", what + "_failed");
        error.put("param", null);
        out.put("error", error);
        return HttpResponse.<Map<String, Object>>status(status).body(out);
    }

    private ObjectNode object(byte[] body) {
        JsonNode n;
        try {
            n = json.readTree(body);
        } catch (IOException e) {
            throw new BadRequestException("body: not JSON (" + e.getMessage() + ")");
        }
        if (!(n instanceof ObjectNode o)) {
            throw new BadRequestException("body: expected a JSON object (LMDeploy's UpdateParamsRequest)");
        }
        return o;
    }

    private static Optional<String> model(JsonNode m) {
        if (m == null || m.isNull()) {
            return Optional.empty();
        }
        if (!m.isTextual() || m.asText().isBlank()) {
            throw new BadRequestException("model: " + m + " (expected: a model name, or none for every node)");
        }
        return Optional.of(m.asText());
    }

    private static Optional<String> model(@Nullable String m) {
        return m == null || m.isBlank() ? Optional.empty() : Optional.of(m.strip());
    }

    private static boolean bool(JsonNode req, String field, boolean dflt) {
        JsonNode v = req.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new BadRequestException(field + ": " + v + " (expected: true or false)");
        }
        return v.asBoolean();
    }

    /** The shapes the agents take (docs/rl-weight-updates.md); what is inside is for the nodes to judge. */
    private static void checkTensors(JsonNode t, boolean finished) {
        if (t == null || t.isNull()) {
            if (!finished) {
                throw new BadRequestException("serialized_named_tensors: required unless finished=true");
            }
            return;
        }
        boolean ok = t.isTextual()
                || t.isArray() && java.util.stream.StreamSupport.stream(t.spliterator(), false).allMatch(JsonNode::isTextual)
                || t.isObject() && (t.path("path").isTextual() || t.path("paths").isArray());
        if (!ok) {
            throw new BadRequestException("serialized_named_tensors: expected a base64 string, a list of them, "
                    + "or {\"path\": F} / {\"paths\": [F, ...]}");
        }
    }
}
