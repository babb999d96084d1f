package io.tandem.engine.errors;

/**
 * Base of the engine's typed, unchecked failures. Each subclass names one kind of domain failure so that
 * an HTTP layer can map it to exactly one status code.
 */
public class EngineException extends RuntimeException {
    public EngineException(String message) {
        super(message);
    }

    public EngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
