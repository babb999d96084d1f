package io.tandem.engine.errors;

/**
 * A JSON schema given for constrained decoding is not valid JSON, or uses a construct the engine does not
 * support (HTTP 400). The message names the schema path of the problem (for example {@code #/properties/age}).
 */
public class InvalidJsonSchemaException extends EngineException {
    public InvalidJsonSchemaException(String message) {
        super(message);
    }

    public InvalidJsonSchemaException(String message, Throwable cause) {
        super(message, cause);
    }
}
