package io.tandem.agent.http;

import io.micronaut.core.annotation.Nullable;
import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.annotation.RequestFilter;
import io.micronaut.http.annotation.ServerFilter;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.distserve.ClusterAccess;
import io.tandem.agent.errors.ApiError;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;

/**
 * Bearer-key checks before any controller runs.
 *
 * <ul>
 *   <li>/health, /ping, /metrics, /version, /load: open (probes and scrapers carry no key).</li>
 *   <li>/sleep, /wakeup, /update_weights, /terminate: the admin key when one is configured, else an API key when
 *       keys are configured, else open (LMDeploy's behaviour, for RL trainers on a private network).</li>
 *   <li>/distserve/*: the cluster token ({@code Authorization: Bearer T} or {@code X-Tandem-Cluster-Token: T})
 *       when one is configured (401 otherwise); without one, loopback callers only (403 otherwise).</li>
 *   <li>Everything else: an API key (or the admin key, or the cluster token) when keys are configured.</li>
 * </ul>
 * Whether the caller is a cluster member (same rule as /distserve/*) is stored in the request attribute
 * {@link ClusterAccess#ATTRIBUTE}: generation requests check it when they carry {@code migration_request} or
 * {@code preserve_cache}, which the filter cannot see. Keys are compared in constant time. Runs on the event
 * loop; it only reads headers and the peer address.
 */
@ServerFilter(ServerFilter.MATCH_ALL_PATTERN)
public class AuthFilter {
    private static final Set<String> OPEN = Set.of("/health", "/ping", "/metrics", "/version", "/load");
    private static final Set<String> ADMIN = Set.of("/sleep", "/wakeup", "/update_weights", "/terminate");
    private static final String CLUSTER_ATTRIBUTE = ClusterAccess.ATTRIBUTE;
    private static final String CLUSTER_HEADER = ClusterAccess.HEADER;

    private final AgentConfig config;

    public AuthFilter(AgentConfig config) {
        this.config = config;
    }

    @RequestFilter
    @Nullable
    public HttpResponse<ApiError> check(HttpRequest<?> request) {
        String path = request.getPath();
        if (OPEN.contains(path)) {
            return null;
        }
        String key = bearer(request);
        boolean cluster = clusterMember(request, key);
        request.setAttribute(CLUSTER_ATTRIBUTE, cluster);
        if (path.startsWith("/distserve/")) {
            return cluster ? null : denyCluster(config.hasClusterToken());
        }
        if (ADMIN.contains(path)) {
            if (config.hasAdminKey()) {
                return matches(key, config.adminKey()) ? null : deny(key, "this endpoint needs the admin key");
            }
        }
        if (!config.authEnabled()) {
            return null;
        }
        if (key != null && (config.apiKeys().stream().anyMatch(k -> matches(key, k))
                || (config.hasAdminKey() && matches(key, config.adminKey()))
                || (config.hasClusterToken() && matches(key, config.clusterToken())))) {
            return null;
        }
        return deny(key, "a valid API key is required");
    }

    private static HttpResponse<ApiError> deny(String key, String why) {
        return ApiError.response(HttpStatus.UNAUTHORIZED, "authentication_error", "invalid_api_key", null,
                (key == null ? "Missing bearer token: " : "Incorrect API key: ") + why
                        + " (send 'Authorization: Bearer KEY')");
    }

    /** The cluster token in either header when one is configured; else a loopback peer. */
    private boolean clusterMember(HttpRequest<?> request, @Nullable String key) {
        if (config.hasClusterToken()) {
            String header = request.getHeaders().get(CLUSTER_HEADER);
            return matches(key, config.clusterToken())
                    || (header != null && matches(header.strip(), config.clusterToken()));
        }
        java.net.InetSocketAddress peer = request.getRemoteAddress();
        return peer != null && peer.getAddress() != null && peer.getAddress().isLoopbackAddress();
    }

    /** 401 without the right token; 403 when no token is configured and the caller is not local. */
    private static HttpResponse<ApiError> denyCluster(boolean tokenConfigured) {
        return tokenConfigured
                ? ApiError.response(HttpStatus.UNAUTHORIZED, "authentication_error", "invalid_cluster_token", null,
                        "this endpoint needs the cluster token (send 'Authorization: Bearer TOKEN' or '"
                                + CLUSTER_HEADER + ": TOKEN')")
                : ApiError.response(HttpStatus.FORBIDDEN, "permission_error", "cluster_only", null,
                        "no cluster token is configured on this agent, so this endpoint only answers loopback "
                                + "callers (start the agents with --cluster-token)");
    }

    @Nullable
    private static String bearer(HttpRequest<?> request) {
        String h = request.getHeaders().getAuthorization().orElse(null);
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        return h.substring(7).strip();
    }

    private static boolean matches(@Nullable String given, String expected) {
        return given != null && MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8),
                expected.getBytes(StandardCharsets.UTF_8));
    }
}
