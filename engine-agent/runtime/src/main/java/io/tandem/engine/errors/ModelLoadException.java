package io.tandem.engine.errors;

/** A model file that Tandem cannot run: an unsupported architecture, a missing or misshapen tensor. */
public class ModelLoadException extends EngineException {
    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
