package io.tandem.agent.config;

import io.micronaut.context.annotation.ConfigurationProperties;
import io.micronaut.core.bind.annotation.Bindable;
import io.micronaut.core.annotation.Nullable;
import io.tandem.kv.ucx.UcxTransport;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * The agent's settings, bound from {@code tandem.agent.*} (application.yml, {@code TANDEM_AGENT_*} environment
 * variables, or the {@code tandem agent} command line, which maps its options onto these keys). Every key and its
 * default is listed in docs/configuration.md.
 *
 * @param model           GGUF file to serve; empty = the generated default model
 * @param role            engine role: hybrid (prefill and decode on this node), prefill or decode (DistServe:
 *                        the KV arena is allocated and registered by UCX, and /distserve/* moves it)
 * @param modelName       name served in /v1/models and expected in {@code model}; empty = the GGUF's general.name
 * @param apiKeys         accepted bearer keys; empty = no authentication
 * @param adminKey        bearer key for /sleep, /wakeup, /update_weights, /terminate; empty = those need an API key
 *                        (if any), and /terminate is refused
 * @param kvBlocks        KV cache blocks; 0 = from {@code kvMemory}, or 512 when that is empty too
 * @param kvMemory        KV cache size as bytes with a unit (512MiB, 2GiB); used when kvBlocks is 0
 * @param blockSize       tokens per KV block
 * @param maxBatchTokens  tokens one engine step processes (decode tokens plus prefill chunks)
 * @param maxRunning      sequences decoded together
 * @param maxWaiting      queued requests before 429
 * @param threads         compute threads, 0 = all cores
 * @param maxModelLen     longest prompt plus output, 0 = the model's context length
 * @param shutdownGrace   how long running requests may finish after SIGTERM before they are aborted
 * @param reasoningParser how to split {@code <think>...</think>} into reasoning_content: auto (when the vocabulary
 *                        has both tokens) or none
 * @param defaultMaxTokens completion length when a request gives no max_tokens (capped by the context)
 * @param clusterToken    the secret of the cluster: /distserve/*, {@code migration_request} and
 *                        {@code with_cache}/{@code preserve_cache} need it ({@code Authorization: Bearer T} or
 *                        {@code X-Tandem-Cluster-Token: T}); empty = they are accepted from loopback callers only
 * @param engineId        this engine's id in DistServe (the URL the proxy knows it by, LMDeploy's engine id);
 *                        empty = {@code http://HOST:PORT} of the HTTP server (127.0.0.1 when bound to all addresses)
 * @param cacheLease      how long a prefill session's KV blocks are held for the decode side to pull
 * @param migrationTimeout how long a decode-side pull may take before the request fails with 504
 * @param kvZmqBind       where the KV control channel (ZeroMQ) binds; {@code *} as the port picks a free one.
 *                        Peers on other hosts need a routable address here
 * @param kvLanes         UCX workers (each with a progress thread) a decode-side pull is spread over; 0 = the
 *                        transport's default (two where there are two cores or more)
 * @param controller      HOST:PORT of the controller's ClusterControl gRPC service (the proxy's {@code --grpc-port})
 *                        to attach to; empty = do not attach (the node is added with /nodes/add instead)
 * @param advertiseUrl    this agent's HTTP base url as the proxy reaches it, sent when attaching; empty = the
 *                        engine id ({@code http://HOST:PORT})
 */
@ConfigurationProperties("tandem.agent")
public record AgentConfig(
        @Bindable(defaultValue = "") String model,
        @Bindable(defaultValue = "hybrid") String role,
        @Bindable(defaultValue = "") String modelName,
        @Nullable List<String> apiKeys,
        @Bindable(defaultValue = "") String adminKey,
        @Bindable(defaultValue = "0") int kvBlocks,
        @Bindable(defaultValue = "") String kvMemory,
        @Bindable(defaultValue = "64") int blockSize,
        @Bindable(defaultValue = "512") int maxBatchTokens,
        @Bindable(defaultValue = "64") int maxRunning,
        @Bindable(defaultValue = "1024") int maxWaiting,
        @Bindable(defaultValue = "0") int threads,
        @Bindable(defaultValue = "0") int maxModelLen,
        @Bindable(defaultValue = "30s") Duration shutdownGrace,
        @Bindable(defaultValue = "auto") String reasoningParser,
        @Bindable(defaultValue = "256") int defaultMaxTokens,
        @Bindable(defaultValue = "") String clusterToken,
        @Bindable(defaultValue = "") String engineId,
        @Bindable(defaultValue = "60s") Duration cacheLease,
        @Bindable(defaultValue = "10s") Duration migrationTimeout,
        @Bindable(defaultValue = "tcp://127.0.0.1:*") String kvZmqBind,
        @Bindable(defaultValue = "0") int kvLanes,
        @Bindable(defaultValue = "") String controller,
        @Bindable(defaultValue = "") String advertiseUrl) {

    public AgentConfig {
        apiKeys = apiKeys == null ? List.of() : apiKeys.stream().map(String::strip).filter(k -> !k.isEmpty()).toList();
        role = role == null ? "hybrid" : role.strip().toLowerCase(Locale.ROOT);
        EngineRole.parse(role); // fails naming the key
        clusterToken = clusterToken == null ? "" : clusterToken.strip();
        engineId = engineId == null ? "" : engineId.strip();
        if (cacheLease == null || cacheLease.isNegative() || cacheLease.isZero()) {
            throw new IllegalArgumentException("tandem.agent.cache-lease: " + cacheLease + " (expected: > 0)");
        }
        if (migrationTimeout == null || migrationTimeout.isNegative() || migrationTimeout.isZero()) {
            throw new IllegalArgumentException("tandem.agent.migration-timeout: " + migrationTimeout
                    + " (expected: > 0)");
        }
        if (kvZmqBind == null || kvZmqBind.isBlank()) {
            kvZmqBind = "tcp://127.0.0.1:*";
        }
        controller = controller == null ? "" : controller.strip();
        if (!controller.isEmpty()) {
            int colon = controller.lastIndexOf(':');
            int port = -1;
            try {
                port = colon > 0 ? Integer.parseInt(controller.substring(colon + 1)) : -1;
            } catch (NumberFormatException e) {
                // reported below
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("tandem.agent.controller: '" + controller
                        + "' (expected: HOST:PORT of the controller's gRPC service)");
            }
        }
        advertiseUrl = advertiseUrl == null ? "" : advertiseUrl.strip();
        if (!advertiseUrl.isEmpty() && !advertiseUrl.startsWith("http://") && !advertiseUrl.startsWith("https://")) {
            throw new IllegalArgumentException("tandem.agent.advertise-url: '" + advertiseUrl
                    + "' (expected: an http(s) url)");
        }
        if (kvLanes < 0 || kvLanes > UcxTransport.MAX_LANES) {
            throw new IllegalArgumentException("tandem.agent.kv-lanes: " + kvLanes + " (expected: 0 to "
                    + UcxTransport.MAX_LANES + ")");
        }
        if (kvBlocks < 0) {
            throw new IllegalArgumentException("tandem.agent.kv-blocks: " + kvBlocks + " (expected: >= 0)");
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("tandem.agent.block-size: " + blockSize + " (expected: > 0)");
        }
        if (defaultMaxTokens <= 0) {
            throw new IllegalArgumentException("tandem.agent.default-max-tokens: " + defaultMaxTokens + " (expected: > 0)");
        }
        if (shutdownGrace == null || shutdownGrace.isNegative()) {
            throw new IllegalArgumentException("tandem.agent.shutdown-grace: " + shutdownGrace + " (expected: >= 0)");
        }
    }

    /** The role as LMDeploy's EngineRole. */
    public EngineRole engineRole() {
        return EngineRole.parse(role);
    }

    /** Whether the agent attaches to a controller ({@code --controller}). */
    public boolean attaches() {
        return !controller.isEmpty();
    }

    public boolean hasClusterToken() {
        return !clusterToken.isEmpty();
    }

    public boolean authEnabled() {
        return !apiKeys.isEmpty();
    }

    public boolean hasAdminKey() {
        return adminKey != null && !adminKey.isBlank();
    }

    /** Parses 512MiB, 2GiB, 1G, 100M, 4096 (bytes) into bytes. */
    public static long parseBytes(String s) {
        String t = s.strip().toLowerCase(Locale.ROOT).replace("ib", "").replace("b", "");
        long mult = 1;
        if (t.endsWith("k")) {
            mult = 1L << 10;
        } else if (t.endsWith("m")) {
            mult = 1L << 20;
        } else if (t.endsWith("g")) {
            mult = 1L << 30;
        } else if (t.endsWith("t")) {
            mult = 1L << 40;
        }
        if (mult != 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            double v = Double.parseDouble(t.strip());
            if (!(v > 0)) {
                throw new NumberFormatException();
            }
            return (long) (v * mult);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("tandem.agent.kv-memory: '" + s + "' (expected: a size like 512MiB or 2GiB)");
        }
    }
}
