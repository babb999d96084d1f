package io.tandem.proxy.security;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;

import io.micronaut.core.annotation.Nullable;
import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.annotation.RequestFilter;
import io.micronaut.http.annotation.ServerFilter;
import io.tandem.proxy.config.ProxyConfig;
import io.tandem.proxy.anthropic.AnthropicErrors;
import io.tandem.proxy.errors.ApiError;
import io.tandem.proxy.metrics.ProxyMetrics;

/**
 * Who may call what, before any controller runs, in this order:
 * <ol>
 *   <li>IP allowlist ({@code allowed-ips}): 403 for other addresses, on every route.</li>
 *   <li>Open: {@code /health}, {@code /metrics}, {@code GET /v1/models}.</li>
 *   <li>Admin routes ({@code /nodes/*}, {@code /distserve/*}, management): with an admin key configured,
 *       {@code Authorization: Bearer <admin key>}; 401 without a bearer, 403 with a wrong one.</li>
 *   <li>Everything else (generation): with API keys configured, one of them or the admin key (as a bearer, or as
 *       {@code x-api-key} as Anthropic's clients send it); 401 otherwise
 *       (OpenAI's status for a missing or wrong key). Then the per-client quota: 429 with Retry-After.</li>
 * </ol>
 * Keys are compared in constant time. Runs on the event loop; reads headers and takes a token, nothing more.
 */
@ServerFilter(ServerFilter.MATCH_ALL_PATTERN)
public class SecurityFilter {
    private static final Set<String> OPEN = Set.of("/health", "/metrics", "/v1/models");

    private final ProxyConfig config;
    private final ProxyMetrics metrics;
    private final IpAllowlist allowlist;
    private final QuotaLimiter quota;

    public SecurityFilter(ProxyConfig config, ProxyMetrics metrics) {
        this.config = config;
        this.metrics = metrics;
        this.allowlist = new IpAllowlist(config.allowedIps());
        this.quota = config.quotaRequestsPerSecond() > 0
                ? new QuotaLimiter(config.quotaRequestsPerSecond(),
                        config.quotaBurst() > 0 ? config.quotaBurst() : Math.max(1, config.quotaRequestsPerSecond()),
                        System::nanoTime)
                : null;
    }

    @RequestFilter
    @Nullable
    public HttpResponse<?> check(HttpRequest<?> request) {
        HttpResponse<?> rejected = rejection(request);
        // The Anthropic route answers with Anthropic error bodies, whatever rejected it.
        return rejected != null && AnthropicErrors.isAnthropicRoute(request.getPath())
                ? AnthropicErrors.fromOpenAi(rejected) : rejected;
    }

    @Nullable
    private HttpResponse<?> rejection(HttpRequest<?> request) {
        InetAddress remote = request.getRemoteAddress().getAddress();
        if (!allowlist.isEmpty() && (remote == null || !allowlist.allows(remote))) {
            metrics.authRejected();
            return ApiError.response(HttpStatus.FORBIDDEN, "permission_error", "ip_not_allowed",
                    "client address " + (remote == null ? "?" : remote.getHostAddress()) + " is not in the allowlist");
        }
        String path = request.getPath();
        if (OPEN.contains(path)) {
            return null;
        }
        String key = bearer(request);
        if (isAdminRoute(path)) {
            if (config.admin().isEmpty()) {
                return null;
            }
            if (key == null) {
                metrics.authRejected();
                return ApiError.response(HttpStatus.UNAUTHORIZED, "authentication_error", "missing_api_key",
                        "Missing bearer token: " + path + " needs the admin key (send 'Authorization: Bearer KEY')");
            }
            if (!matches(key, config.admin().get())) {
                metrics.authRejected();
                return ApiError.response(HttpStatus.FORBIDDEN, "permission_error", "invalid_admin_key",
                        "Incorrect admin key for " + path);
            }
            return null;
        }
        if (!config.apiKeys().isEmpty()) {
            boolean ok = key != null && (config.apiKeys().stream().anyMatch(k -> matches(key, k))
                    || config.admin().map(a -> matches(key, a)).orElse(false));
            if (!ok) {
                metrics.authRejected();
                return ApiError.response(HttpStatus.UNAUTHORIZED, "authentication_error", "invalid_api_key",
                        (key == null ? "Missing bearer token" : "Incorrect API key")
                                + ": a valid API key is required (send 'Authorization: Bearer KEY')");
            }
        }
        if (quota != null) {
            String client = request.getHeaders().get("X-Client-Name");
            if (client == null || client.isBlank()) {
                client = remote == null ? "?" : remote.getHostAddress();
            }
            long wait = quota.tryAcquire(client);
            if (wait > 0) {
                metrics.quotaRejected();
                return ApiError.response(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error", "quota_exceeded",
                        "per-client quota exceeded for '" + client + "' (" + config.quotaRequestsPerSecond()
                                + " requests/s); retry after " + wait + " s")
                        .header("Retry-After", Long.toString(wait));
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
    private static String bearer(HttpRequest<?> request) {
        String h = request.getHeaders().getAuthorization().orElse(null);
        if (h == null) {
            // Anthropic's SDKs send the key as x-api-key.
            String k = request.getHeaders().get("x-api-key");
            return k == null || k.isBlank() ? null : k.strip();
        }
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        return h.substring(7).strip();
    }

    private static boolean matches(String given, String expected) {
        return MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected.getBytes(StandardCharsets.UTF_8));
    }
}
