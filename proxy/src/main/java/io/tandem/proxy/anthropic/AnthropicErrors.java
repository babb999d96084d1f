package io.tandem.proxy.anthropic;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.proxy.errors.ApiError;
import io.tandem.proxy.errors.BadRequestException;
import io.tandem.proxy.errors.UpstreamFailedException;
import io.tandem.proxy.errors.UpstreamTimeoutException;
import java.nio.charset.StandardCharsets;

/** Anthropic error bodies for every failure of the Anthropic route. Stateless, thread-safe. */
public final class AnthropicErrors {
    static final ObjectMapper JSON = new ObjectMapper();

    private AnthropicErrors() {}

    public static boolean isAnthropicRoute(String path) {
        return path.equals("/v1/messages") || path.startsWith("/v1/messages/");
    }

    /** Anthropic's error type for an HTTP status. */
    static String typeOf(int status) {
        return switch (status) {
            case 400, 413, 422 -> "invalid_request_error";
            case 401 -> "authentication_error";
            case 403 -> "permission_error";
            case 404 -> "not_found_error";
            case 429 -> "rate_limit_error";
            case 503, 529 -> "overloaded_error";
            default -> "api_error";
        };
    }

    static ObjectNode body(String type, String message) {
        ObjectNode root = JSON.createObjectNode();
        root.put("type", "error");
        ObjectNode e = root.putObject("error");
        e.put("type", type);
        e.put("message", message == null ? "" : message);
        return root;
    }

    static MutableHttpResponse<?> response(int status, String type, String message) {
        return HttpResponse.status(io.micronaut.http.HttpStatus.valueOf(status)).contentType(MediaType.APPLICATION_JSON_TYPE)
                .body(body(type, message).toString());
    }

    /** The same rejection (a filter's, with an OpenAI body) with an Anthropic body; headers such as Retry-After kept. */
    public static HttpResponse<?> fromOpenAi(HttpResponse<?> openAi) {
        int status = openAi.code();
        String message = openAi.getBody(ApiError.class).map(a -> a.error().message()).orElse(openAi.reason());
        MutableHttpResponse<?> r = response(status, typeOf(status), message);
        openAi.getHeaders().getFirst("Retry-After").ifPresent(v -> r.header("Retry-After", v));
        return r;
    }

    /** A node's own error answer (an OpenAI or LMDeploy body) re-shaped, its status kept. */
    static MutableHttpResponse<?> fromNode(int status, byte[] body) {
        String message;
        try {
            JsonNode n = JSON.readTree(body);
            JsonNode m = n.path("error").isObject() ? n.path("error").path("message") : n.path("message");
            message = m.isMissingNode() || m.isNull() ? new String(body, StandardCharsets.UTF_8) : m.asText();
        } catch (Exception notJson) {
            message = new String(body, StandardCharsets.UTF_8);
        }
        return response(status, typeOf(status), message);
    }

    /** A failure of routing or of the node call, as the OpenAI routes' handlers would status it. */
    static MutableHttpResponse<?> fromThrowable(Throwable t) {
        Throwable e = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
        return switch (e) {
            case AnthropicException a -> response(a.status(), a.type(), a.getMessage());
            case BadRequestException b -> response(400, "invalid_request_error", b.getMessage());
            case UnknownModelException u -> response(404, "not_found_error", u.getMessage());
            case NodeNotFoundException n -> response(404, "not_found_error", n.getMessage());
            case NoHealthyNodeException n -> response(503, "overloaded_error", n.getMessage());
            case NodeUnavailableException n -> response(503, "overloaded_error", n.getMessage());
            case UpstreamTimeoutException u -> response(504, "api_error", u.getMessage());
            case UpstreamFailedException u -> response(502, "api_error", u.getMessage());
            default -> response(500, "api_error", "internal error: " + e);
        };
    }
}
