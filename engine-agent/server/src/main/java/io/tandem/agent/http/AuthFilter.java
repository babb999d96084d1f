package io.tandem.agent.http;

import io.micronaut.core.annotation.Nullable;
import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.annotation.RequestFilter;
import io.micronaut.http.annotation.ServerFilter;
import io.tandem.agent.config.AgentConfig;
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
 *   <li>Everything else: an API key (or the admin key) when keys are configured.</li>
 * </ul>
 * Keys are compared in constant time. Runs on the event loop; it only reads a header.
 */
@ServerFilter(ServerFilter.MATCH_ALL_PATTERN)
public class AuthFilter {
    private static final Set<String> OPEN = Set.of("/health", "/ping", "/metrics", "/version", "/load");
    private static final Set<String> ADMIN = Set.of("/sleep", "/wakeup", "/update_weights", "/terminate");

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
        if (ADMIN.contains(path)) {
            if (config.hasAdminKey()) {
                return matches(key, config.adminKey()) ? null : deny(key, "this endpoint needs the admin key");
            }
        }
        if (!config.authEnabled()) {
            return null;
        }
        if (key != null && (config.apiKeys().stream().anyMatch(k -> matches(key, k))
                || (config.hasAdminKey() && matches(key, config.adminKey())))) {
            return null;
        }
        return deny(key, "a valid API key is required");
    }

    private static HttpResponse<ApiError> deny(String key, String why) {
        return ApiError.response(HttpStatus.UNAUTHORIZED, "authentication_error", "invalid_api_key", null,
                (key == null ? "Missing bearer token: " : "Incorrect API key: ") + why
                        + " (send 'Authorization: Bearer KEY')");
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
