package io.tandem.agent.service;

import io.tandem.agent.api.ChatCompletionRequest;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.engine.sampling.LogitsMask;
import io.tandem.engine.structured.JsonConstraints;
import jakarta.inject.Singleton;

/**
 * {@code response_format}: {@code text} needs nothing; {@code json_object} and {@code json_schema} constrain
 * decoding with a per-request token mask ({@link JsonConstraints}) so that the output parses, and validates
 * against the schema; the engine ends the request when the JSON value is complete. A schema the constraint
 * compiler refuses is a 400 ({@code InvalidJsonSchemaException}).
 */
@Singleton
public final class StructuredOutput {
    private final AgentEngine agent;

    public StructuredOutput(AgentEngine agent) {
        this.agent = agent;
    }

    /** A fresh mask for one request (masks carry parse state), or null for free text. */
    public LogitsMask mask(ChatCompletionRequest.ResponseFormat format) {
        if (format == null || format.type() == null || format.type().equals("text")) {
            return null;
        }
        try {
            return switch (format.type()) {
                case "json_object" -> JsonConstraints.forJsonObject(agent.model().tokenizer());
                case "json_schema" -> {
                    if (format.jsonSchema() == null || format.jsonSchema().schema() == null) {
                        throw new BadParameterException("response_format.json_schema.schema: required",
                                "response_format");
                    }
                    yield JsonConstraints.forJsonSchema(agent.model().tokenizer(),
                            format.jsonSchema().schema().toString());
                }
                default -> throw new BadParameterException("response_format.type: '" + format.type()
                        + "' (expected: text, json_object or json_schema)", "response_format");
            };
        } catch (UnsupportedOperationException e) {
            throw new BadParameterException("response_format: '" + format.type()
                    + "' is not supported by this build's engine", "response_format");
        }
    }
}
