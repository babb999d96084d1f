package io.tandem.engine.structured;

import io.tandem.engine.errors.InvalidJsonSchemaException;
import io.tandem.engine.tokenizer.Tokenizer;

/**
 * Factories of JSON-constrained decoding: the OpenAI {@code response_format} modes {@code json_object} and
 * {@code json_schema}.
 */
public final class JsonConstraints {
    private JsonConstraints() {
    }

    /** Any JSON object. */
    public static TokenConstraint forJsonObject(Tokenizer tokenizer) {
        throw new UnsupportedOperationException("not yet");
    }

    /**
     * A JSON value valid against {@code schema}.
     *
     * @throws InvalidJsonSchemaException when {@code schema} is not JSON or uses an unsupported construct
     */
    public static TokenConstraint forJsonSchema(Tokenizer tokenizer, String schema) {
        throw new UnsupportedOperationException("not yet");
    }
}
