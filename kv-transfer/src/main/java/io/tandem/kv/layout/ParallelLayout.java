package io.tandem.kv.layout;

import io.tandem.proto.EngineConfig;

/**
 * How one engine splits a model over its ranks: layers over {@code ppSize} pipeline stages, KV heads over
 * {@code tpSize} tensor-parallel ranks. Ranks are numbered pipeline-major: {@code rank = ppRank * tpSize + tpRank}.
 * Immutable.
 */
public record ParallelLayout(int tpSize, int ppSize) {

    public ParallelLayout {
        if (tpSize < 1) {
            throw new IllegalArgumentException("tpSize: " + tpSize + " (expected: >= 1)");
        }
        if (ppSize < 1) {
            throw new IllegalArgumentException("ppSize: " + ppSize + " (expected: >= 1)");
        }
    }

    /** The layout of an LMDeploy engine config; an unset (0) tp_size or pp_size means 1. */
    public static ParallelLayout of(EngineConfig config) {
        return new ParallelLayout(Math.max(1, config.getTpSize()), Math.max(1, config.getPpSize()));
    }

    /** Ranks in the engine: {@code tpSize * ppSize}. */
    public int worldSize() {
        return tpSize * ppSize;
    }

    public int ppRank(int rank) {
        return rank / tpSize;
    }

    public int tpRank(int rank) {
        return rank % tpSize;
    }

    @Override
    public String toString() {
        return "tp" + tpSize + "pp" + ppSize;
    }
}
