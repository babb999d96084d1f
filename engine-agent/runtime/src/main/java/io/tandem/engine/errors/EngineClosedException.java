package io.tandem.engine.errors;

/** The engine is shutting down or closed and takes no new work (HTTP 503). */
public class EngineClosedException extends EngineException {
    public EngineClosedException(String message) {
        super(message);
    }

    public EngineClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
