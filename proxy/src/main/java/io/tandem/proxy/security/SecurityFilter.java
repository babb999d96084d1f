package io.tandem.proxy.security;

import io.micronaut.core.annotation.Nullable;
import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.annotation.RequestFilter;
import io.micronaut.http.annotation.ServerFilter;
import io.tandem.proxy.anthropic.AnthropicErrors;
import io.tandem.proxy.errors.ApiError;
import io.tandem.proxy.errors.ErrorReply;

/**
 * {@link AccessPolicy} in front of every route Micronaut serves, before any controller runs. (The two OpenAI
 * generation routes are served by {@code io.tandem.proxy.http.GenerationHandler}, which applies the same policy.)
 * Runs on the event loop; reads headers and takes a token, nothing more.
 */
@ServerFilter(ServerFilter.MATCH_ALL_PATTERN)
public class SecurityFilter {
    private final AccessPolicy policy;

    public SecurityFilter(AccessPolicy policy) {
        this.policy = policy;
    }

    @RequestFilter
    @Nullable
    public HttpResponse<?> check(HttpRequest<?> request) {
        var remote = request.getRemoteAddress().getAddress();
        var headers = request.getHeaders();
        ErrorReply rejected = policy.check(request.getPath(), remote, headers.getAuthorization().orElse(null),
                headers.get("x-api-key"), headers.get("X-Client-Name"));
        if (rejected == null) {
            return null;
        }
        HttpResponse<?> openAi = ApiError.response(rejected);
        // The Anthropic route answers with Anthropic error bodies, whatever rejected it.
        return AnthropicErrors.isAnthropicRoute(request.getPath()) ? AnthropicErrors.fromOpenAi(openAi) : openAi;
    }
}
