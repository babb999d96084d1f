package io.tandem.controller.pairing;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import io.tandem.controller.errors.AgentCallException;
import io.tandem.controller.internal.HttpFailures;
import io.tandem.controller.internal.Json;
import io.tandem.controller.pairing.DistServeWire.ConnectRequest;
import io.tandem.controller.pairing.DistServeWire.DropConnectRequest;
import io.tandem.controller.pairing.DistServeWire.FreeCacheRequest;
import io.tandem.controller.pairing.DistServeWire.InitRequest;
import io.tandem.controller.pairing.DistServeWire.InitResponse;
import io.tandem.controller.registry.DistServeEngineConfig;

/**
 * {@link DistServeClient} over the JDK's asynchronous {@link HttpClient}. Adds {@code Authorization: Bearer <token>}
 * when a cluster token is set (our agents accept {@code /distserve/*} only from the cluster; LMDeploy ignores it).
 *
 * <p>Thread-safe.
 */
public final class HttpDistServeClient implements DistServeClient {
    private final HttpClient http;
    private final Duration timeout;
    private final Optional<String> clusterToken;

    public HttpDistServeClient(HttpClient http, Duration timeout, Optional<String> clusterToken) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: " + timeout + " (expected: > 0)");
        }
        this.http = http;
        this.timeout = timeout;
        this.clusterToken = clusterToken;
    }

    @Override
    public CompletableFuture<DistServeEngineConfig> engineInfo(String nodeUrl) {
        return call(nodeUrl, "/distserve/engine_info", null).thenApply(body -> {
            try {
                JsonNode node = Json.MAPPER.readTree(body);
                if (node.isTextual()) { // LMDeploy double-encodes: the body is a JSON string holding the JSON object
                    node = Json.MAPPER.readTree(node.textValue());
                }
                return Json.MAPPER.treeToValue(node, DistServeEngineConfig.class);
            } catch (JsonProcessingException e) {
                throw new AgentCallException(nodeUrl + "/distserve/engine_info: unreadable engine config: "
                        + e.getOriginalMessage(), e);
            }
        });
    }

    @Override
    public CompletableFuture<InitResponse> p2pInitialize(String nodeUrl, InitRequest request) {
        return call(nodeUrl, "/distserve/p2p_initialize", request).thenApply(body -> {
            try {
                return Json.MAPPER.readValue(body, InitResponse.class);
            } catch (JsonProcessingException e) {
                throw new AgentCallException(nodeUrl + "/distserve/p2p_initialize: unreadable answer: "
                        + e.getOriginalMessage(), e);
            }
        });
    }

    @Override
    public CompletableFuture<Void> p2pConnect(String nodeUrl, ConnectRequest request) {
        return call(nodeUrl, "/distserve/p2p_connect", request).thenApply(b -> null);
    }

    @Override
    public CompletableFuture<Void> p2pDropConnect(String nodeUrl, DropConnectRequest request) {
        return call(nodeUrl, "/distserve/p2p_drop_connect", request).thenApply(b -> null);
    }

    @Override
    public CompletableFuture<Void> freeCache(String nodeUrl, FreeCacheRequest request) {
        return call(nodeUrl, "/distserve/free_cache", request).thenApply(b -> null);
    }

    /** GET when {@code body} is null, else POST of its JSON; completes with the response body on 2xx. */
    private CompletableFuture<String> call(String nodeUrl, String path, Object body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(nodeUrl + path)).timeout(timeout);
        clusterToken.ifPresent(t -> b.header("Authorization", "Bearer " + t));
        if (body == null) {
            b.GET();
        } else {
            try {
                b.header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofByteArray(Json.MAPPER.writeValueAsBytes(body)));
            } catch (JsonProcessingException e) {
                return CompletableFuture.failedFuture(new IllegalStateException("cannot encode " + body, e));
            }
        }
        String what = (body == null ? "GET " : "POST ") + nodeUrl + path;
        return http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofString())
                .handle((response, error) -> {
                    if (error != null) {
                        throw HttpFailures.noAnswer(what, error, timeout);
                    }
                    if (response.statusCode() / 100 != 2) {
                        String text = response.body() == null ? "" : response.body();
                        throw new AgentCallException(what + " answered " + response.statusCode() + ": "
                                + (text.length() > 300 ? text.substring(0, 300) + "..." : text),
                                response.statusCode(), false, null);
                    }
                    return response.body();
                });
    }
}
