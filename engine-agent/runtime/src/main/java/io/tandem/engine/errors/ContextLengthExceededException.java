package io.tandem.engine.errors;

/** A prompt (or prompt plus requested tokens) longer than the model or the KV cache can hold (HTTP 400). */
public class ContextLengthExceededException extends EngineException {
    public ContextLengthExceededException(String message) {
        super(message);
    }

    public ContextLengthExceededException(String message, Throwable cause) {
        super(message, cause);
    }
}
