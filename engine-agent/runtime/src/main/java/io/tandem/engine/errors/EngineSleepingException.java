package io.tandem.engine.errors;

/**
 * The engine is asleep (or going to sleep): its KV cache or weights are released, so it takes no work until
 * {@code wakeUp} restores them (HTTP 503). Requests that were running or queued when {@code sleep} was called
 * finish with {@code ABORT} and carry this exception.
 */
public class EngineSleepingException extends EngineException {
    public EngineSleepingException(String message) {
        super(message);
    }
}
