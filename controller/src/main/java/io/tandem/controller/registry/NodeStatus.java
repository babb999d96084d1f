package io.tandem.controller.registry;

import java.util.List;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * LMDeploy's {@code Status} object, field for field, as {@code /nodes/add} takes it and {@code /nodes/status} shows
 * it: role, models, speed (may be null), unfinished requests, and the last 15 request latencies in seconds.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record NodeStatus(
        @JsonProperty("role") EngineRole role,
        @JsonProperty("models") List<String> models,
        @JsonProperty("speed") Integer speed,
        @JsonProperty("unfinished") int unfinished,
        @JsonProperty("latency") List<Double> latency) {
    /** LMDeploy keeps this many latencies per node. */
    public static final int LATENCY_WINDOW = 15;

    public NodeStatus {
        role = role == null ? EngineRole.HYBRID : role;
        models = models == null ? List.of() : List.copyOf(models);
        latency = latency == null ? List.of() : List.copyOf(latency);
    }
}
