package io.tandem.engine.errors;

/** The engine's waiting queue is at its limit; the caller should retry later (HTTP 429). */
public class QueueFullException extends EngineException {
    public QueueFullException(String message) {
        super(message);
    }

    public QueueFullException(String message, Throwable cause) {
        super(message, cause);
    }
}
