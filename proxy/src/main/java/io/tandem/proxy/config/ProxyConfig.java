package io.tandem.proxy.config;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import io.micronaut.context.annotation.ConfigurationProperties;
import io.micronaut.core.bind.annotation.Bindable;
import io.micronaut.core.annotation.Nullable;
import io.tandem.controller.pairing.MigrationProtocol;
import io.tandem.controller.routing.StrategyName;

/**
 * Every {@code tandem.proxy.*} key (application.yml, {@code TANDEM_PROXY_*} environment variables, or the command
 * line of {@code tandem proxy}); each is described in docs/configuration.md "Proxy".
 *
 * @param mode                 hybrid (one node per request) or distserve (a prefill node then a decode node)
 * @param strategy             routing strategy for hybrid nodes, and the default for prefill and decode
 * @param prefillStrategy      strategy for prefill nodes ("" = {@code strategy})
 * @param decodeStrategy       strategy for decode nodes ("" = {@code strategy})
 * @param adminKey             bearer key for /nodes/*, /distserve/* and management routes ("" = open)
 * @param apiKeys              bearer keys accepted on generation routes (empty = open)
 * @param clusterToken         token agents present on attach; sent as a bearer to agents on /distserve and migration calls
 * @param nodeAdminKey         bearer sent to nodes on /terminate ("" = the cluster token)
 * @param stateFile            JSON file that keeps the node list across restarts ("" = not kept)
 * @param grpcPort             ClusterControl port agents attach to (-1 = not served, 0 = any free port)
 * @param healthInterval       how often nodes without a control stream are probed
 * @param healthTimeout        probe timeout
 * @param connectTimeout       TCP connect timeout to nodes
 * @param upstreamTimeout      longest wait for a node's response headers (504 past it)
 * @param maxAttempts          nodes (or pairs) one request may try before its first byte reached the client
 * @param sessionLease         prefill blocks whose decode never came are freed after this
 * @param quotaRequestsPerSecond per-client sustained rate (0 = no quota)
 * @param quotaBurst           per-client bucket size (0 = one second's worth, at least 1)
 * @param allowedIps           client addresses or CIDR blocks allowed (empty = all)
 * @param migrationProtocol    KV transport named in pairs and migration requests: rdma, tcp or nvlink
 * @param consulUrl            Consul agent to watch for agents, e.g. http://127.0.0.1:8500 ("" = no Consul)
 * @param consulService        Consul service name agents register as
 * @param consulWait           longest wait of one Consul blocking query (1s to 10m)
 * @param nodeAdminTimeout     longest wait for a node's answer to /update_weights, /sleep, /wakeup
 */
@ConfigurationProperties("tandem.proxy")
public record ProxyConfig(
        @Bindable(defaultValue = "hybrid") String mode,
        @Bindable(defaultValue = "min_expected_latency") String strategy,
        @Bindable(defaultValue = "") String prefillStrategy,
        @Bindable(defaultValue = "") String decodeStrategy,
        @Bindable(defaultValue = "") String adminKey,
        @Nullable List<String> apiKeys,
        @Bindable(defaultValue = "") String clusterToken,
        @Bindable(defaultValue = "") String nodeAdminKey,
        @Bindable(defaultValue = "") String stateFile,
        @Bindable(defaultValue = "-1") int grpcPort,
        @Bindable(defaultValue = "1s") Duration healthInterval,
        @Bindable(defaultValue = "500ms") Duration healthTimeout,
        @Bindable(defaultValue = "2s") Duration connectTimeout,
        @Bindable(defaultValue = "300s") Duration upstreamTimeout,
        @Bindable(defaultValue = "3") int maxAttempts,
        @Bindable(defaultValue = "60s") Duration sessionLease,
        @Bindable(defaultValue = "0") double quotaRequestsPerSecond,
        @Bindable(defaultValue = "0") int quotaBurst,
        @Nullable List<String> allowedIps,
        @Bindable(defaultValue = "rdma") String migrationProtocol,
        @Bindable(defaultValue = "") String consulUrl,
        @Bindable(defaultValue = "tandem-agent") String consulService,
        @Bindable(defaultValue = "60s") Duration consulWait,
        @Bindable(defaultValue = "10m") Duration nodeAdminTimeout) {

    public ProxyConfig {
        mode = mode == null ? "hybrid" : mode.trim().toLowerCase(Locale.ROOT);
        if (!mode.equals("hybrid") && !mode.equals("distserve")) {
            throw new IllegalArgumentException("tandem.proxy.mode: '" + mode + "' (expected: hybrid or distserve)");
        }
        StrategyName.parse(strategy);
        if (!prefillStrategy.isBlank()) {
            StrategyName.parse(prefillStrategy);
        }
        if (!decodeStrategy.isBlank()) {
            StrategyName.parse(decodeStrategy);
        }
        apiKeys = apiKeys == null ? List.of() : apiKeys.stream().map(String::strip).filter(k -> !k.isEmpty()).toList();
        allowedIps = allowedIps == null ? List.of()
                : allowedIps.stream().map(String::strip).filter(k -> !k.isEmpty()).toList();
        if (grpcPort < -1 || grpcPort > 65535) {
            throw new IllegalArgumentException("tandem.proxy.grpc-port: " + grpcPort + " (expected: -1..65535)");
        }
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("tandem.proxy.max-attempts: " + maxAttempts + " (expected: >= 1)");
        }
        if (quotaRequestsPerSecond < 0 || Double.isNaN(quotaRequestsPerSecond)) {
            throw new IllegalArgumentException("tandem.proxy.quota-requests-per-second: " + quotaRequestsPerSecond
                    + " (expected: >= 0)");
        }
        if (quotaBurst < 0) {
            throw new IllegalArgumentException("tandem.proxy.quota-burst: " + quotaBurst + " (expected: >= 0)");
        }
        migrationProtocol = migrationProtocol == null ? "rdma" : migrationProtocol.trim().toLowerCase(Locale.ROOT);
        if (!List.of("rdma", "tcp", "nvlink").contains(migrationProtocol)) {
            throw new IllegalArgumentException("tandem.proxy.migration-protocol: '" + migrationProtocol
                    + "' (expected: rdma, tcp or nvlink)");
        }
        positive("health-interval", healthInterval);
        positive("health-timeout", healthTimeout);
        positive("connect-timeout", connectTimeout);
        positive("upstream-timeout", upstreamTimeout);
        positive("session-lease", sessionLease);
        positive("node-admin-timeout", nodeAdminTimeout);
        if (consulWait == null || consulWait.toSeconds() < 1 || consulWait.toMinutes() > 10) {
            throw new IllegalArgumentException("tandem.proxy.consul-wait: " + consulWait + " (expected: 1s..10m)");
        }
        if (consulService == null || consulService.isBlank()) {
            throw new IllegalArgumentException("tandem.proxy.consul-service: '" + consulService
                    + "' (expected: a Consul service name)");
        }
    }

    private static void positive(String key, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException("tandem.proxy." + key + ": " + d + " (expected: > 0)");
        }
    }

    public boolean distServe() {
        return mode.equals("distserve");
    }

    public StrategyName hybridStrategyName() {
        return StrategyName.parse(strategy);
    }

    public StrategyName prefillStrategyName() {
        return StrategyName.parse(prefillStrategy.isBlank() ? strategy : prefillStrategy);
    }

    public StrategyName decodeStrategyName() {
        return StrategyName.parse(decodeStrategy.isBlank() ? strategy : decodeStrategy);
    }

    public MigrationProtocol protocol() {
        return MigrationProtocol.valueOf(migrationProtocol.toUpperCase(Locale.ROOT));
    }

    public Optional<String> admin() {
        return Optional.of(adminKey).filter(k -> !k.isBlank());
    }

    public Optional<String> token() {
        return Optional.of(clusterToken).filter(k -> !k.isBlank());
    }

    public Optional<String> consul() {
        return Optional.of(consulUrl).filter(u -> !u.isBlank());
    }

    /** The bearer sent to nodes on /terminate and the management calls: the node admin key, else the cluster token. */
    public Optional<String> nodeAdmin() {
        return Optional.of(nodeAdminKey).filter(k -> !k.isBlank()).or(this::token);
    }
}
