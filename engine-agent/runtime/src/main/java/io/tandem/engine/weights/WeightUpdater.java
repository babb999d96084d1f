package io.tandem.engine.weights;

import io.tandem.engine.errors.WeightUpdateException;
import io.tandem.engine.scheduler.Engine;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * Updates an engine's weights in place from safetensors buckets, as RL trainers push them.
 *
 * <p>Thread-safe: staging is synchronized.
 */
public final class WeightUpdater {
    private final Engine engine;

    public WeightUpdater(Engine engine) {
        this.engine = java.util.Objects.requireNonNull(engine, "engine");
    }

    /**
     * Parses, validates and stages the tensors of a safetensors payload.
     *
     * @throws WeightUpdateException on any problem; everything staged so far is then discarded
     */
    public synchronized void stageSafetensors(byte[] safetensorsBytes) {
        throw new UnsupportedOperationException("not yet");
    }

    /** {@link #stageSafetensors} of a {@code .safetensors} file. */
    public synchronized void stageFile(Path path) {
        throw new UnsupportedOperationException("not yet");
    }

    /** Swaps the staged tensors in between two engine steps. */
    public synchronized CompletableFuture<Void> commit() {
        throw new UnsupportedOperationException("not yet");
    }

    /** Discards the staged tensors. */
    public synchronized void abort() {
    }

    public synchronized int stagedCount() {
        return 0;
    }
}
