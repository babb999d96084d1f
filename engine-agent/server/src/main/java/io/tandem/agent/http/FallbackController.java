package io.tandem.agent.http;

import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Error;
import io.tandem.agent.errors.ApiError;

/** OpenAI-style bodies for what no controller handles: unknown routes (404) and wrong methods (405). */
@Controller
public class FallbackController {

    @Error(status = HttpStatus.NOT_FOUND, global = true)
    public HttpResponse<ApiError> notFound(HttpRequest<?> request) {
        return ApiError.response(HttpStatus.NOT_FOUND, "not_found_error", "not_found", null,
                "No route " + request.getMethod() + " " + request.getPath());
    }

    @Error(status = HttpStatus.METHOD_NOT_ALLOWED, global = true)
    public HttpResponse<ApiError> methodNotAllowed(HttpRequest<?> request) {
        return ApiError.response(HttpStatus.METHOD_NOT_ALLOWED, "invalid_request_error", "method_not_allowed", null,
                "Method " + request.getMethod() + " is not allowed on " + request.getPath());
    }
}
