package io.tandem.agent.errors;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.MutableHttpResponse;

/**
 * The OpenAI error body, {@code {"error":{"message","type","code","param"}}}: what the official SDKs parse into
 * their typed exceptions, and what every failure of this agent answers with.
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ApiError(Detail error) {

    /**
     * @param message what was wrong, for a person
     * @param type    OpenAI's class: invalid_request_error, authentication_error, not_found_error, ...
     * @param code    a stable machine-readable code, or null
     * @param param   the request parameter at fault, or null
     */
    public record Detail(String message, String type, String code, String param) {
    }

    public static MutableHttpResponse<ApiError> response(HttpStatus status, String type, String code, String param,
                                                         String message) {
        return HttpResponse.<ApiError>status(status).body(new ApiError(new Detail(message, type, code, param)));
    }
}
