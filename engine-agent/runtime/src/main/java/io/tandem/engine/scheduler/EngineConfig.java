package io.tandem.engine.scheduler;

import java.time.Clock;
import java.time.Duration;

/**
 * How an engine is sized and scheduled.
 *
 * @param kvBlocks        blocks in the KV arena
 * @param blockSize       token positions per block
 * @param maxBatchTokens  tokens one step may process (decode tokens plus prefill chunks); a longer prompt is
 *                        prefilled in chunks of at most this many tokens, interleaved with decode steps
 * @param maxRunning      sequences in the running batch at once
 * @param maxWaiting      requests queued before submit answers {@link io.tandem.engine.errors.QueueFullException}
 * @param threads         compute threads (0 = all cores)
 * @param cacheLease      how long a prefill session's blocks are held for migration when nobody releases them
 * @param maxModelLen     longest sequence (prompt plus output); 0 = the model's context length
 * @param clock           time source for leases and timings (injected so tests need not sleep)
 */
public record EngineConfig(int kvBlocks, int blockSize, int maxBatchTokens, int maxRunning, int maxWaiting,
                           int threads, Duration cacheLease, int maxModelLen, Clock clock) {

    public static final int DEFAULT_BLOCK_SIZE = 64;

    public EngineConfig {
        positive("kvBlocks", kvBlocks);
        positive("blockSize", blockSize);
        positive("maxBatchTokens", maxBatchTokens);
        positive("maxRunning", maxRunning);
        positive("maxWaiting", maxWaiting);
        if (threads < 0) {
            throw new IllegalArgumentException("threads: " + threads + " (expected: >= 0, 0 = all cores)");
        }
        if (cacheLease == null || cacheLease.isNegative() || cacheLease.isZero()) {
            throw new IllegalArgumentException("cacheLease: " + cacheLease + " (expected: > 0)");
        }
        if (maxModelLen < 0) {
            throw new IllegalArgumentException("maxModelLen: " + maxModelLen + " (expected: >= 0)");
        }
        if (clock == null) {
            clock = Clock.systemUTC();
        }
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + ": " + v + " (expected: > 0)");
        }
    }

    /** 512 blocks of 64 tokens, 512-token steps, 64 running, 1024 waiting, all cores, 60 s lease. */
    public static EngineConfig defaults() {
        return new EngineConfig(512, DEFAULT_BLOCK_SIZE, 512, 64, 1024, 0, Duration.ofSeconds(60), 0,
                Clock.systemUTC());
    }

    public EngineConfig withKvBlocks(int n) {
        return new EngineConfig(n, blockSize, maxBatchTokens, maxRunning, maxWaiting, threads, cacheLease,
                maxModelLen, clock);
    }

    public EngineConfig withBlockSize(int n) {
        return new EngineConfig(kvBlocks, n, maxBatchTokens, maxRunning, maxWaiting, threads, cacheLease,
                maxModelLen, clock);
    }

    public EngineConfig withMaxBatchTokens(int n) {
        return new EngineConfig(kvBlocks, blockSize, n, maxRunning, maxWaiting, threads, cacheLease, maxModelLen,
                clock);
    }

    public EngineConfig withMaxRunning(int n) {
        return new EngineConfig(kvBlocks, blockSize, maxBatchTokens, n, maxWaiting, threads, cacheLease,
                maxModelLen, clock);
    }

    public EngineConfig withMaxWaiting(int n) {
        return new EngineConfig(kvBlocks, blockSize, maxBatchTokens, maxRunning, n, threads, cacheLease,
                maxModelLen, clock);
    }

    public EngineConfig withThreads(int n) {
        return new EngineConfig(kvBlocks, blockSize, maxBatchTokens, maxRunning, maxWaiting, n, cacheLease,
                maxModelLen, clock);
    }

    public EngineConfig withCacheLease(Duration d) {
        return new EngineConfig(kvBlocks, blockSize, maxBatchTokens, maxRunning, maxWaiting, threads, d,
                maxModelLen, clock);
    }

    public EngineConfig withMaxModelLen(int n) {
        return new EngineConfig(kvBlocks, blockSize, maxBatchTokens, maxRunning, maxWaiting, threads, cacheLease,
                n, clock);
    }

    public EngineConfig withClock(Clock c) {
        return new EngineConfig(kvBlocks, blockSize, maxBatchTokens, maxRunning, maxWaiting, threads, cacheLease,
                maxModelLen, c);
    }
}
