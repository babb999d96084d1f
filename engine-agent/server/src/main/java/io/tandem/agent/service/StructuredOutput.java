package io.tandem.agent.service;

import io.tandem.agent.api.ChatCompletionRequest;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.engine.sampling.LogitsMask;
import jakarta.inject.Singleton;

/**
 * {@code response_format}: {@code text} needs nothing; {@code json_object} and {@code json_schema} constrain
 * decoding with a per-request token mask so that the output parses (and validates against the schema).
 */
@Singleton
public final class StructuredOutput {

    /** The mask for one request (a fresh one per choice: masks carry parse state), or null for free text. */
    public LogitsMask mask(ChatCompletionRequest.ResponseFormat format) {
        if (format == null || format.type() == null || format.type().equals("text")) {
            return null;
        }
        if (format.type().equals("json_object") || format.type().equals("json_schema")) {
            throw new BadParameterException("response_format: type '" + format.type()
                    + "' needs the structured-output engine, not in this build", "response_format");
        }
        throw new BadParameterException("response_format.type: '" + format.type()
                + "' (expected: text, json_object or json_schema)", "response_format");
    }
}
