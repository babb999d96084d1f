package io.tandem.agent.lifecycle;

import io.tandem.engine.weights.WeightUpdater;
import jakarta.inject.Singleton;
import java.nio.file.Path;
import java.util.List;

/**
 * The agent's one {@link WeightUpdater}: buckets pushed by /update_weights are staged across requests until one
 * says {@code finished}, then swapped in atomically between engine steps. A bad bucket throws (400 naming the
 * tensor) and discards everything staged, so the weights in use never mix old and new halves.
 *
 * <p>Thread-safe (the updater synchronizes).
 */
@Singleton
public final class WeightUpdates {
    private final WeightUpdater updater;

    public WeightUpdates(AgentEngine agent) {
        this.updater = new WeightUpdater(agent.engine());
    }

    /** Stages safetensors payloads, then commits when {@code finished}; returns the tensors staged before commit. */
    public int apply(List<byte[]> buckets, List<Path> files, boolean finished) {
        for (byte[] b : buckets) {
            updater.stageSafetensors(b);
        }
        for (Path f : files) {
            updater.stageFile(f);
        }
        int staged = updater.stagedCount();
        if (finished) {
            updater.commit().join();
        }
        return staged;
    }

    public void abort() {
        updater.abort();
    }
}
