package io.tandem.proxy.security;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;

import io.micronaut.core.annotation.Nullable;
import io.tandem.proxy.config.ProxyConfig;
import io.tandem.proxy.errors.ErrorReply;
import io.tandem.proxy.metrics.ProxyMetrics;
import jakarta.inject.Singleton;

/**
 * Who may call what, in this order:
 * <ol>
 *   <li>IP allowlist ({@code allowed-ips}): 403 for other addresses, on every route.</li>
 *   <li>Open: {@code /health}, {@code /metrics}, {@code GET /v1/models}.</li>
 *   <li>Admin routes ({@code /nodes/*}, {@code /distserve/*}, management): with an admin key configured,
 *       {@code Authorization: Bearer <admin key>}; 401 without a bearer, 403 with a wrong one.</li>
 *   <li>Everything else (generation): with API keys configured, one of them or the admin key (as a bearer, or as
 *       {@code x-api-key} as Anthropic's clients send it); 401 otherwise (OpenAI's status for a missing or wrong
 *       key). Then the per-client quota: 429 with Retry-After.</li>
 * </ol>
 * Free of any HTTP framework type, so that Micronaut's filter ({@link SecurityFilter}) and the Netty fast path of
 * the generation routes ({@code io.tandem.proxy.http.GenerationHandler}) apply the same rules. Keys are compared in
 * constant time. Reads a few headers and takes a quota token, nothing more; thread-safe.
 */
@Singleton
public class AccessPolicy {
    private static final Set<String> OPEN = Set.of("/health", "/metrics", "/v1/models");

    private final ProxyConfig config;
    private final ProxyMetrics metrics;
    private final IpAllowlist allowlist;
    private final QuotaLimiter quota;

    public AccessPolicy(ProxyConfig config, ProxyMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
        this.allowlist = new IpAllowlist(config.allowedIps());
        this.quota = config.quotaRequestsPerSecond() > 0
                ? new QuotaLimiter(config.quotaRequestsPerSecond(),
                        config.quotaBurst() > 0 ? config.quotaBurst() : Math.max(1, config.quotaRequestsPerSecond()),
                        System::nanoTime)
                : null;
    }

    /**
     * The rejection of a request, or null when it may go on.
     *
     * @param path          the request path, without the query
     * @param remote        the client's address (null if unknown)
     * @param authorization the {@code Authorization} header (null if absent)
     * @param apiKey        the {@code x-api-key} header (null if absent)
     * @param clientName    the {@code X-Client-Name} header (null if absent): the quota's client, else the address
     */
    @Nullable
    public ErrorReply check(String path, @Nullable InetAddress remote, @Nullable String authorization,
                            @Nullable String apiKey, @Nullable String clientName) {
        if (!allowlist.isEmpty() && (remote == null || !allowlist.allows(remote))) {
            metrics.authRejected();
            return new ErrorReply(403, "permission_error", "ip_not_allowed",
                    "client address " + (remote == null ? "?" : remote.getHostAddress()) + " is not in the allowlist");
        }
        if (OPEN.contains(path)) {
            return null;
        }
        String key = bearer(authorization, apiKey);
        if (isAdminRoute(path)) {
            if (config.admin().isEmpty()) {
                return null;
            }
            if (key == null) {
                metrics.authRejected();
                return new ErrorReply(401, "authentication_error", "missing_api_key",
                        "Missing bearer token: " + path + " needs the admin key (send 'Authorization: Bearer KEY')");
            }
            if (!matches(key, config.admin().get())) {
                metrics.authRejected();
                return new ErrorReply(403, "permission_error", "invalid_admin_key", "Incorrect admin key for " + path);
            }
            return null;
        }
        if (!config.apiKeys().isEmpty()) {
            boolean ok = key != null && (config.apiKeys().stream().anyMatch(k -> matches(key, k))
                    || config.admin().map(a -> matches(key, a)).orElse(false));
            if (!ok) {
                metrics.authRejected();
                return new ErrorReply(401, "authentication_error", "invalid_api_key",
                        (key == null ? "Missing bearer token" : "Incorrect API key")
                                + ": a valid API key is required (send 'Authorization: Bearer KEY')");
            }
        }
        if (quota != null) {
            String client = clientName;
            if (client == null || client.isBlank()) {
                client = remote == null ? "?" : remote.getHostAddress();
            }
            long wait = quota.tryAcquire(client);
            if (wait > 0) {
                metrics.quotaRejected();
                return new ErrorReply(429, "rate_limit_error", "quota_exceeded",
                        "per-client quota exceeded for '" + client + "' (" + config.quotaRequestsPerSecond()
                                + " requests/s); retry after " + wait + " s", wait);
            }
        }
        return null;
    }

    static boolean isAdminRoute(String path) {
        return path.startsWith("/nodes/") || path.startsWith("/distserve/") || path.equals("/update_weights")
                || path.equals("/sleep") || path.equals("/wakeup") || path.equals("/is_sleeping")
                || path.equals("/terminate");
    }

    @Nullable
    private static String bearer(@Nullable String authorization, @Nullable String apiKey) {
        if (authorization == null) {
            // Anthropic's SDKs send the key as x-api-key.
            return apiKey == null || apiKey.isBlank() ? null : apiKey.strip();
        }
        if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        return authorization.substring(7).strip();
    }

    private static boolean matches(String given, String expected) {
        return MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected.getBytes(StandardCharsets.UTF_8));
    }
}
