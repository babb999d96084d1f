package io.tandem.engine.errors;

/** Moving a sequence's KV blocks from another engine failed; the sequence was not started. */
public class MigrationFailedException extends EngineException {
    public MigrationFailedException(String message) {
        super(message);
    }

    public MigrationFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
