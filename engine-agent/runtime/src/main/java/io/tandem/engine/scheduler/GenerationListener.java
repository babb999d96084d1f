package io.tandem.engine.scheduler;

/**
 * Hears one request's tokens. Called on the engine loop thread: implementations must be quick and must not block
 * (hand the data to another thread's queue); an exception thrown here aborts that request only.
 */
public interface GenerationListener {
    /** A token was generated. */
    default void onToken(TokenOutput token) {
    }

    /** The request ended (finished, stopped, aborted or failed); called exactly once. */
    void onFinish(GenerationResult result);

    GenerationListener NONE = r -> { };
}
