package io.tandem.engine.errors;

/** The KV cache cannot hold what was asked of it, even after preempting everything else. */
public class OutOfKvBlocksException extends EngineException {
    public OutOfKvBlocksException(String message) {
        super(message);
    }
}
