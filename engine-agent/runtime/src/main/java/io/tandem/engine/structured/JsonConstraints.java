package io.tandem.engine.structured;

import io.tandem.engine.errors.InvalidJsonSchemaException;
import io.tandem.engine.tokenizer.Tokenizer;
import java.util.Objects;

/**
 * Factories of JSON-constrained decoding: the OpenAI {@code response_format} modes {@code json_object} and
 * {@code json_schema}. Each call returns a fresh, stateful {@link TokenConstraint} for one request; set it as the
 * request's mask. The token trie behind it is built on first use per tokenizer and cached (about a second for a
 * 150k vocabulary, far less for 32k).
 *
 * <p>See {@link SchemaCompiler} for the supported schema subset and {@link JsonGrammar} for the output format
 * (compact, with limited whitespace).
 */
public final class JsonConstraints {
    private JsonConstraints() {
    }

    /** Any JSON object (OpenAI {@code json_object} mode). */
    public static TokenConstraint forJsonObject(Tokenizer tokenizer) {
        Objects.requireNonNull(tokenizer, "tokenizer");
        return new JsonTokenConstraint(TokenTrie.of(tokenizer), JsonGrammar.AnyNode.ANY_OBJECT);
    }

    /**
     * A JSON value valid against {@code schema} (OpenAI {@code json_schema} mode).
     *
     * @throws InvalidJsonSchemaException when {@code schema} is not JSON or uses an unsupported construct
     */
    public static TokenConstraint forJsonSchema(Tokenizer tokenizer, String schema) {
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(schema, "schema");
        return new JsonTokenConstraint(TokenTrie.of(tokenizer), SchemaCompiler.compile(schema));
    }
}
