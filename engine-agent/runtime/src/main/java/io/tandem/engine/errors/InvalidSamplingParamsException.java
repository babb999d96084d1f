package io.tandem.engine.errors;

import java.util.Objects;

/**
 * A request's sampling parameters are out of range or inconsistent. Maps to HTTP 400; {@link #parameter()}
 * is the OpenAI/vLLM wire name of the offending parameter (for example {@code "top_p"}) so the HTTP layer can
 * point the client at it without parsing the message.
 */
public class InvalidSamplingParamsException extends EngineException {
    private final String parameter;

    public InvalidSamplingParamsException(String parameter, String message) {
        super(message);
        this.parameter = Objects.requireNonNull(parameter, "parameter");
    }

    /** Wire name of the offending parameter, for example {@code "top_p"} or {@code "stop_token_ids"}. */
    public String parameter() {
        return parameter;
    }
}
