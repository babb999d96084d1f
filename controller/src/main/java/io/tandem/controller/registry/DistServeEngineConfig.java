package io.tandem.controller.registry;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * LMDeploy's DistServeEngineConfig: an engine's parallel layout and KV capacity, as {@code GET /distserve/engine_info}
 * answers it and {@code p2p_initialize} carries it. snake_case on the wire.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record DistServeEngineConfig(
        @JsonProperty("tp_size") int tpSize,
        @JsonProperty("dp_size") int dpSize,
        @JsonProperty("pp_size") Integer ppSize,
        @JsonProperty("ep_size") int epSize,
        @JsonProperty("dp_rank") int dpRank,
        @JsonProperty("block_size") int blockSize,
        @JsonProperty("num_cpu_blocks") int numCpuBlocks,
        @JsonProperty("num_gpu_blocks") int numGpuBlocks) {
}
