package io.tandem.engine.errors;

/** No KV-cache session of that id is held (never made, already released, or its lease ran out). */
public class CacheSessionNotFoundException extends EngineException {
    public CacheSessionNotFoundException(String message) {
        super(message);
    }

    public CacheSessionNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
