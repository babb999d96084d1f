package io.tandem.agent.lifecycle;

import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.weights.WeightUpdater;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The agent's one {@link WeightUpdater}: buckets pushed by /update_weights are staged across requests until one
 * says {@code finished}, then swapped in atomically between engine steps. A bad bucket throws (400 naming the
 * tensor) and discards everything staged, so the weights in use never mix old and new halves.
 *
 * <p><b>Weights version.</b> {@link #version()} names the weights in use: {@value #BASE} as loaded from the model
 * file, then after each commit of staged tensors the first 16 hex digits of SHA-256 over the previous version and
 * what was staged since the last commit (each bucket's SHA-256; each file's path and size; a commit with nothing
 * staged changes nothing). Agents that load the same file and
 * receive the same pushes in the same order report the same version, so the controller can tell an agent that
 * restarted (and lost the pushed weights) from its peers ({@code /health}'s {@value #HEADER} header, the control
 * stream's load reports, the {@code /update_weights} answer).
 *
 * <p>Thread-safe.
 */
@Singleton
public final class WeightUpdates {
    /** The version of the weights loaded from the model file. */
    public static final String BASE = "base";
    /** The response header of {@code /health} that carries {@link #version()}. */
    public static final String HEADER = "X-Tandem-Weights-Version";

    private final WeightUpdater updater;
    private final Engine engine;
    /** Digest of what was staged since the last commit or abort. Guarded by this. */
    private MessageDigest pending = sha256();
    private volatile String version = BASE;

    public WeightUpdates(AgentEngine agent) {
        this(agent.engine());
    }

    WeightUpdates(Engine engine) {
        this.engine = engine;
        this.updater = new WeightUpdater(engine);
    }

    /**
     * Puts the engine to sleep ({@link Engine#sleep}). Level 2 releases the weights, and what is used after it comes
     * from the model file again (mapped at wake-up, or under the next update), so the version goes back to
     * {@value #BASE}.
     */
    public synchronized CompletableFuture<Void> sleep(int level) {
        CompletableFuture<Void> f = engine.sleep(level);
        if (level == 2) {
            version = BASE;
        }
        return f;
    }

    /**
     * Stages safetensors payloads, then commits when {@code finished}; returns the tensors staged before commit.
     */
    public synchronized int apply(List<byte[]> buckets, List<Path> files, boolean finished) {
        try {
            for (byte[] b : buckets) {
                updater.stageSafetensors(b);
                pending.update(sha256().digest(b));
            }
            for (Path f : files) {
                updater.stageFile(f);
                pending.update((f.toAbsolutePath().normalize() + "\n" + Files.size(f) + "\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            abort();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            pending = sha256(); // the updater discarded what was staged
            throw e;
        }
        int staged = updater.stagedCount();
        if (finished && staged > 0) {
            byte[] pendingDigest = pending.digest();
            try {
                updater.commit().join();
            } finally {
                pending = sha256(); // committed, or discarded by the updater when the engine closed first
            }
            MessageDigest next = sha256();
            next.update((version + "\n").getBytes(StandardCharsets.UTF_8));
            next.update(pendingDigest);
            version = HexFormat.of().formatHex(next.digest(), 0, 8);
        }
        return staged;
    }

    public synchronized void abort() {
        updater.abort();
        pending = sha256();
    }

    /** The version of the weights in use (see the class comment). */
    public String version() {
        return version;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
