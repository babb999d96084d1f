package io.tandem.controller.pairing;

import java.util.concurrent.CompletableFuture;

import io.tandem.controller.pairing.DistServeWire.ConnectRequest;
import io.tandem.controller.pairing.DistServeWire.DropConnectRequest;
import io.tandem.controller.pairing.DistServeWire.FreeCacheRequest;
import io.tandem.controller.pairing.DistServeWire.InitRequest;
import io.tandem.controller.pairing.DistServeWire.InitResponse;
import io.tandem.controller.registry.DistServeEngineConfig;

/**
 * The controller's side of an engine's {@code /distserve/*} API. Futures fail with
 * {@link io.tandem.controller.errors.AgentCallException} when the engine answers non-2xx, times out or cannot be
 * reached. Implementations are thread-safe.
 */
public interface DistServeClient {
    /** {@code GET /distserve/engine_info} (LMDeploy answers the config JSON-encoded as a string; both forms accepted). */
    CompletableFuture<DistServeEngineConfig> engineInfo(String nodeUrl);

    /** {@code POST /distserve/p2p_initialize}. */
    CompletableFuture<InitResponse> p2pInitialize(String nodeUrl, InitRequest request);

    /** {@code POST /distserve/p2p_connect}. */
    CompletableFuture<Void> p2pConnect(String nodeUrl, ConnectRequest request);

    /** {@code POST /distserve/p2p_drop_connect}. */
    CompletableFuture<Void> p2pDropConnect(String nodeUrl, DropConnectRequest request);

    /** {@code POST /distserve/free_cache}. */
    CompletableFuture<Void> freeCache(String nodeUrl, FreeCacheRequest request);
}
