package io.tandem.proxy.errors;

import com.fasterxml.jackson.annotation.JsonInclude;

import io.micronaut.core.annotation.Introspected;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;

/** OpenAI's error body, {@code {"error":{"message","type","code","param"}}}. */
@Introspected
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ApiError(Body error) {
    @Introspected
    public record Body(String message, String type, String code, String param) {}

    public static MutableHttpResponse<ApiError> response(HttpStatus status, String type, String code, String message) {
        return HttpResponse.<ApiError>status(status).contentType(MediaType.APPLICATION_JSON_TYPE)
                .body(new ApiError(new Body(message, type, code, null)));
    }

    /** {@code reply} as a Micronaut response, with {@code Retry-After} where it has one. */
    public static MutableHttpResponse<ApiError> response(ErrorReply reply) {
        MutableHttpResponse<ApiError> r = response(HttpStatus.valueOf(reply.status()), reply.type(), reply.code(),
                reply.message());
        if (reply.retryAfterSeconds() > 0) {
            r.header("Retry-After", Long.toString(reply.retryAfterSeconds()));
        }
        return r;
    }
}
