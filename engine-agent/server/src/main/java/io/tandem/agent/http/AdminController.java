package io.tandem.agent.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.micronaut.core.annotation.Nullable;
import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Post;
import io.micronaut.http.annotation.QueryValue;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.errors.ForbiddenException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.lifecycle.WeightUpdates;
import io.tandem.agent.service.SessionRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Operator and RL-trainer endpoints: /sleep, /wakeup, /is_sleeping, /update_weights, /abort_request, /terminate.
 * Which key each needs is decided by {@link AuthFilter}. They block on the engine's lifecycle futures, so they run
 * on the blocking executor.
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class AdminController {
    private final AgentEngine agent;
    private final AgentConfig config;
    private final WeightUpdates weights;
    private final SessionRegistry sessions;
    private final Json json;

    public AdminController(AgentEngine agent, AgentConfig config, WeightUpdates weights, SessionRegistry sessions,
                           Json json) {
        this.agent = agent;
        this.config = config;
        this.weights = weights;
        this.sessions = sessions;
        this.json = json;
    }

    /** Level 1 frees the KV cache, level 2 the weights too; running requests are aborted first. */
    @Post(uri = "/sleep", consumes = MediaType.ALL)
    public Map<String, Object> sleep(@Nullable @QueryValue("level") String level) {
        int lv;
        try {
            lv = level == null || level.isBlank() ? 1 : Integer.parseInt(level.strip());
        } catch (NumberFormatException e) {
            throw new BadParameterException("level: '" + level + "' (expected: 1 or 2)", "level");
        }
        if (lv != 1 && lv != 2) {
            throw new BadParameterException("level: " + lv + " (expected: 1 or 2)", "level");
        }
        weights.sleep(lv).join();
        return Map.of();
    }

    /** {@code tags}: weights, kv_cache (repeated or comma-separated); none = everything. */
    @Post(uri = "/wakeup", consumes = MediaType.ALL)
    public Map<String, Object> wakeup(@Nullable @QueryValue("tags") List<String> tags) {
        Set<String> set = tags == null ? Set.of() : tags.stream()
                .flatMap(t -> Arrays.stream(t.split(","))).map(String::strip).filter(t -> !t.isEmpty())
                .collect(Collectors.toSet());
        for (String t : set) {
            if (!t.equals("weights") && !t.equals("kv_cache")) {
                throw new BadParameterException("tags: '" + t + "' (expected: weights or kv_cache)", "tags");
            }
        }
        agent.engine().wakeUp(set).join();
        return Map.of();
    }

    @Get("/is_sleeping")
    public Map<String, Object> isSleeping() {
        return Map.of("is_sleeping", agent.engine().isSleeping());
    }

    /**
     * LMDeploy's UpdateParamsRequest. {@code serialized_named_tensors}: a base64 safetensors payload, a list of
     * them (buckets), or an object {@code {"path": F}} / {@code {"paths": [F...]}} naming safetensors files on this
     * node; with {@code load_format: "path"} the strings are file paths instead of payloads. Tensors are staged
     * until a request with {@code finished: true}, which swaps them all in at once.
     */
    @Post(uri = "/update_weights", consumes = MediaType.ALL)
    public Map<String, Object> updateWeights(@Body String body) {
        JsonNode req = json.read(body, JsonNode.class);
        JsonNode tensors = req.get("serialized_named_tensors");
        String format = req.path("load_format").isTextual() ? req.get("load_format").asText() : "safetensors";
        JsonNode finishedNode = req.get("finished");
        if (finishedNode != null && !finishedNode.isNull() && !finishedNode.isBoolean()) {
            throw new BadParameterException("finished: expected a boolean", "finished");
        }
        boolean finished = finishedNode != null && finishedNode.asBoolean(false);
        List<String> strings = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        if (tensors == null || tensors.isNull()) {
            if (!finished) {
                throw new BadParameterException("serialized_named_tensors: required unless finished=true",
                        "serialized_named_tensors");
            }
        } else if (tensors.isTextual()) {
            strings.add(tensors.asText());
        } else if (tensors.isArray()) {
            for (JsonNode t : tensors) {
                if (!t.isTextual()) {
                    throw new BadParameterException("serialized_named_tensors: every bucket must be a string",
                            "serialized_named_tensors");
                }
                strings.add(t.asText());
            }
        } else if (tensors.isObject()) {
            if (tensors.path("path").isTextual()) {
                files.add(Path.of(tensors.get("path").asText()));
            }
            for (JsonNode p : tensors.path("paths")) {
                files.add(Path.of(p.asText()));
            }
            if (files.isEmpty()) {
                throw new BadParameterException("serialized_named_tensors: an object must name 'path' or 'paths'",
                        "serialized_named_tensors");
            }
        }
        List<byte[]> buckets = new ArrayList<>();
        switch (format) {
            case "safetensors", "flattened_bucket", "base64" -> {
                for (int i = 0; i < strings.size(); i++) {
                    try {
                        buckets.add(Base64.getDecoder().decode(strings.get(i).strip()));
                    } catch (IllegalArgumentException e) {
                        weights.abort();
                        throw new BadParameterException("serialized_named_tensors[" + i + "]: not base64: "
                                + e.getMessage(), "serialized_named_tensors");
                    }
                }
            }
            case "path", "file" -> strings.forEach(s -> files.add(Path.of(s)));
            default -> throw new BadParameterException("load_format: '" + format
                    + "' (expected: safetensors (base64 payloads) or path)", "load_format");
        }
        for (Path f : files) {
            if (!Files.isRegularFile(f)) {
                weights.abort();
                throw new BadParameterException("serialized_named_tensors: no such file " + f,
                        "serialized_named_tensors");
            }
        }
        int staged = weights.apply(buckets, files, finished);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("staged_tensors", staged);
        out.put("committed", finished);
        out.put("weights_version", weights.version());
        return out;
    }

    /** LMDeploy's abort: one {@code session_id}'s requests, or everything with {@code abort_all}. */
    @Post(uri = "/abort_request", consumes = MediaType.ALL)
    public Map<String, Object> abort(@Body String body) {
        JsonNode req = json.read(body, JsonNode.class);
        if (req.path("abort_all").asBoolean(false)) {
            agent.engine().abortAll();
            return Map.of();
        }
        JsonNode sid = req.get("session_id");
        if (sid == null || !sid.canConvertToLong()) {
            throw new BadParameterException("session_id: required (an integer) unless abort_all=true", "session_id");
        }
        List<String> ids = sessions.requests(sid.asLong());
        ids.forEach(agent.engine()::abort);
        return Map.of();
    }

    /** Shuts the process down as SIGTERM would (drain, then exit); needs the admin key. */
    @Get("/terminate")
    public Map<String, Object> terminate() {
        if (!config.hasAdminKey()) {
            throw new ForbiddenException("/terminate needs an admin key: start the agent with --admin-key");
        }
        Thread.ofPlatform().name("tandem-terminate").start(() -> {
            try {
                Thread.sleep(200); // let this response reach the client first
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.exit(0);
        });
        return Map.of();
    }
}
