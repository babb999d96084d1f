package io.tandem.agent.lifecycle;

import io.micronaut.context.annotation.Context;
import io.tandem.agent.config.AgentConfig;
import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.gguf.GgufFile;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.ModelLoader;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.EngineConfig;
import io.tandem.engine.tensor.GgmlType;
import jakarta.annotation.PreDestroy;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The one model and engine this agent serves, created when the application context starts (so a bad model file
 * fails start-up, not the first request) and closed last on shutdown.
 *
 * <p>Start-up prints a progress bar while the layers load and one summary line (architecture, parameters, dtype,
 * KV capacity) on stderr. The KV cache is sized from {@code kv-blocks}, or from {@code kv-memory} divided by the
 * bytes one block takes ({@code n_layers * 2 * n_kv_heads * block_size * head_dim * 4}, F32 cache).
 *
 * <p>Thread-safe: the engine is; {@link #draining} is a volatile flag read by the request filter.
 */
@Context
public final class AgentEngine implements AutoCloseable {
    /** Where the default demo model is generated when no model is configured (as {@code tandem generate}). */
    public static final Path DEFAULT_MODEL = Path.of("models", "tandem-small-q8_0.gguf");
    private static final int DEFAULT_KV_BLOCKS = 512;

    private final LoadedModel model;
    private final Engine engine;
    private final String servedName;
    private final Instant started = Instant.now();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();

    public AgentEngine(AgentConfig config) {
        Path path = config.model().isBlank() ? defaultModel() : Path.of(config.model());
        PrintStream err = System.err;
        long t0 = System.nanoTime();
        LoadedModel m = LoadedModel.load(path, new ProgressBar(err, "loading " + path.getFileName(), layerCount(path)));
        try {
            ModelConfig c = m.config();
            int blocks = kvBlocks(config, c);
            EngineConfig ec = EngineConfig.defaults().withKvBlocks(blocks).withBlockSize(config.blockSize())
                    .withMaxBatchTokens(config.maxBatchTokens()).withMaxRunning(config.maxRunning())
                    .withMaxWaiting(config.maxWaiting()).withThreads(config.threads())
                    .withMaxModelLen(config.maxModelLen());
            this.engine = new Engine(m, ec);
            this.model = m;
            this.servedName = config.modelName().isBlank() ? m.name() : config.modelName();
            err.printf(Locale.ROOT, "tandem agent: serving '%s' (%s, %s, %.1fM parameters, %s, %d layers, context %d); "
                            + "KV cache %d blocks x %d = %d tokens; loaded in %.2f s%n",
                    servedName, path, c.architecture().ggufName(), m.weights().parameterCount() / 1e6,
                    m.weightType(), c.nLayers(), engine.maxModelLen(), blocks, config.blockSize(),
                    engine.kvCache().capacityTokens(), (System.nanoTime() - t0) / 1e9);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** Layers in the file, read from its header only, so that the progress bar knows its total. */
    private static int layerCount(Path path) {
        try (GgufFile f = GgufFile.open(path)) {
            return ModelLoader.config(f).nLayers();
        } catch (IOException | RuntimeException e) {
            return 0; // LoadedModel.load reports the real problem with the file
        }
    }

    private static Path defaultModel() {
        Path path = DEFAULT_MODEL;
        if (!Files.exists(path)) {
            System.err.println("tandem agent: generating the default model " + path + " (small preset, Q8_0) ...");
            try {
                Files.createDirectories(path.toAbsolutePath().getParent());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            ModelGenerator.generate(ModelSpec.small(GgmlType.Q8_0), path);
        }
        return path;
    }

    static int kvBlocks(AgentConfig config, ModelConfig c) {
        if (config.kvBlocks() > 0) {
            return config.kvBlocks();
        }
        if (config.kvMemory().isBlank()) {
            return DEFAULT_KV_BLOCKS;
        }
        long perBlock = (long) c.nLayers() * 2 * c.nKvHeads() * config.blockSize() * c.headDim() * KvDtype.F32.bytes();
        long blocks = AgentConfig.parseBytes(config.kvMemory()) / perBlock;
        if (blocks < 1 || blocks > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tandem.agent.kv-memory: " + config.kvMemory() + " holds " + blocks
                    + " blocks of " + perBlock + " bytes (expected: at least 1)");
        }
        return (int) blocks;
    }

    public Engine engine() {
        return engine;
    }

    public LoadedModel model() {
        return model;
    }

    /** The model name clients send in {@code model} and see in /v1/models. */
    public String servedName() {
        return servedName;
    }

    public Instant started() {
        return started;
    }

    /** True once shutdown began: new generation requests answer 503. */
    public boolean draining() {
        return draining.get();
    }

    /**
     * Stops taking requests, lets the running ones finish within {@code grace}, aborts the rest and frees the
     * engine's memory. Idempotent; called from the shutdown hook (SIGTERM) and /terminate.
     */
    public void drainAndClose(Duration grace) {
        draining.set(true);
        if (closed.compareAndSet(false, true)) {
            engine.shutdown(grace);
            model.close();
        }
    }

    @PreDestroy
    @Override
    public void close() {
        drainAndClose(Duration.ZERO);
    }

    /** A text progress bar over the layers, redrawn in place with {@code \r}. */
    private static final class ProgressBar implements java.util.function.IntConsumer {
        private final PrintStream out;
        private final String label;
        private final int total;

        ProgressBar(PrintStream out, String label, int total) {
            this.out = out;
            this.label = label;
            this.total = total;
        }

        @Override
        public void accept(int layer) {
            if (total <= 0) {
                return;
            }
            int done = layer + 1;
            int width = 30;
            int filled = (int) ((long) width * done / total);
            out.print("\r" + label + " [" + "#".repeat(filled) + " ".repeat(Math.max(0, width - filled)) + "] "
                    + done + "/" + total + " layers" + (done >= total ? "\n" : ""));
            out.flush();
        }
    }
}
