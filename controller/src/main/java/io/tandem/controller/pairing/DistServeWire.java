package io.tandem.controller.pairing;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import io.tandem.controller.registry.DistServeEngineConfig;

/**
 * The JSON bodies of LMDeploy's {@code /distserve/*} endpoints, field for field (snake_case, integers for enums).
 * Unknown fields in answers are ignored, as LMDeploy adds fields between versions.
 */
public final class DistServeWire {
    private DistServeWire() {}

    /** LMDeploy's DistServeEngineEndpointInfo: the engine's ZeroMQ control address. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record EngineEndpointInfo(@JsonProperty("zmq_address") String zmqAddress) {}

    /** LMDeploy's DistServeKVTransferEndpointInfo: one transport's endpoint, opaque to the controller. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record KvTransferEndpointInfo(@JsonProperty("protocol") MigrationProtocol protocol,
                                         @JsonProperty("endpoint_info") String endpointInfo) {}

    /** LMDeploy's DistServeRDMAConfig; link_type IB=1, RoCE=2. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record RdmaConfig(@JsonProperty("with_gdr") boolean withGdr, @JsonProperty("link_type") int linkType) {
        public static final RdmaConfig DEFAULT = new RdmaConfig(true, 2);
    }

    /** Body of {@code POST /distserve/p2p_initialize}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record InitRequest(@JsonProperty("local_engine_id") String localEngineId,
                              @JsonProperty("local_engine_config") DistServeEngineConfig localEngineConfig,
                              @JsonProperty("remote_engine_id") String remoteEngineId,
                              @JsonProperty("remote_engine_config") DistServeEngineConfig remoteEngineConfig,
                              @JsonProperty("protocol") MigrationProtocol protocol,
                              @JsonProperty("rank") Integer rank,
                              @JsonProperty("tcp_config") Map<String, Object> tcpConfig,
                              @JsonProperty("rdma_config") RdmaConfig rdmaConfig,
                              @JsonProperty("nvlink_config") Map<String, Object> nvlinkConfig) {

        /** The request LMDeploy's proxy sends: the transport's config set, the others null, rank null. */
        public static InitRequest of(String localId, DistServeEngineConfig localConfig, String remoteId,
                                     DistServeEngineConfig remoteConfig, MigrationProtocol protocol) {
            return new InitRequest(localId, localConfig, remoteId, remoteConfig, protocol, null,
                    protocol == MigrationProtocol.TCP ? Map.of() : null,
                    protocol == MigrationProtocol.RDMA ? RdmaConfig.DEFAULT : null,
                    protocol == MigrationProtocol.NVLINK ? Map.of() : null);
        }
    }

    /** Answer of {@code p2p_initialize}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record InitResponse(@JsonProperty("status") Object status,
                               @JsonProperty("engine_endpoint_info") EngineEndpointInfo engineEndpointInfo,
                               @JsonProperty("kvtransfer_endpoint_info") List<KvTransferEndpointInfo> kvtransferEndpointInfo) {
        public InitResponse {
            kvtransferEndpointInfo = kvtransferEndpointInfo == null ? List.of() : List.copyOf(kvtransferEndpointInfo);
        }
    }

    /** Body of {@code POST /distserve/p2p_connect}: the other engine's endpoints. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ConnectRequest(@JsonProperty("protocol") MigrationProtocol protocol,
                                 @JsonProperty("remote_engine_id") String remoteEngineId,
                                 @JsonProperty("remote_engine_endpoint_info") EngineEndpointInfo remoteEngineEndpointInfo,
                                 @JsonProperty("remote_kvtransfer_endpoint_info")
                                 List<KvTransferEndpointInfo> remoteKvtransferEndpointInfo) {}

    /** Body of {@code POST /distserve/p2p_drop_connect}. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record DropConnectRequest(@JsonProperty("engine_id") String engineId,
                                     @JsonProperty("remote_engine_id") String remoteEngineId) {}

    /** Body of {@code POST /distserve/free_cache}: sent to the prefill engine, remote_engine_id = that engine. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record FreeCacheRequest(@JsonProperty("remote_engine_id") String remoteEngineId,
                                   @JsonProperty("remote_session_id") long remoteSessionId) {}
}
