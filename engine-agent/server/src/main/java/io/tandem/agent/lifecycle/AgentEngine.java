package io.tandem.agent.lifecycle;

import io.micronaut.context.annotation.Context;
import io.micronaut.context.annotation.Value;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.config.EngineRole;
import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.KvTransferConfig;
import io.tandem.kv.KvTransferEngine;
import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.gguf.GgufFile;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.ModelLoader;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.EngineConfig;
import io.tandem.kv.ucx.UcxTransport;
import jakarta.annotation.PreDestroy;
import java.io.IOException;
import java.io.PrintStream;
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
 * <p>Prefill and decode agents (DistServe) also own a {@link KvTransferEngine}, created first: UCX allocates and
 * registers the KV arena once, and the engine's cache lives in it ({@link UcxArenaMemory}), so that peers read
 * blocks in place and pulled blocks land in place. Sleep keeps that registered memory: the engine only stops
 * using it and takes it back, zeroed, on wake-up, so the endpoint info peers hold stays valid (at the cost of
 * not returning the arena to the OS while asleep). Hybrid agents keep plain off-heap memory.
 *
 * <p>Thread-safe: the engine is; {@link #draining} is a volatile flag read by the request filter.
 */
@Context
public final class AgentEngine implements AutoCloseable {
    private static final int DEFAULT_KV_BLOCKS = 512;

    private final LoadedModel model;
    private final Engine engine;
    private final EngineRole role;
    private final String engineId;
    private final KvTransferEngine kvTransfer; // null for hybrid
    private final String servedName;
    private final Instant started = Instant.now();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicBoolean drainedByController = new AtomicBoolean();

    public AgentEngine(AgentConfig config, @Value("${micronaut.server.host:}") String host,
                       @Value("${micronaut.server.port:23333}") int port) {
        Path path = config.model().isBlank() ? ModelGenerator.defaultModel() : Path.of(config.model());
        PrintStream err = System.err;
        long t0 = System.nanoTime();
        LoadedModel m = LoadedModel.load(path, new ProgressBar(err, "loading " + path.getFileName(), layerCount(path)));
        try {
            ModelConfig c = m.config();
            int blocks = kvBlocks(config, c);
            EngineConfig ec = EngineConfig.defaults().withKvBlocks(blocks).withBlockSize(config.blockSize())
                    .withMaxBatchTokens(config.maxBatchTokens()).withMaxRunning(config.maxRunning())
                    .withMaxWaiting(config.maxWaiting()).withThreads(config.threads())
                    .withMaxModelLen(config.maxModelLen()).withCacheLease(config.cacheLease());
            this.role = config.engineRole();
            this.engineId = !config.engineId().isEmpty() ? config.engineId()
                    : "http://" + (host == null || host.isBlank() || host.equals("0.0.0.0") || host.equals("::")
                    ? "127.0.0.1" : host) + ":" + port;
            KvTransferEngine kv = null;
            Engine e;
            if (role.migrates()) {
                KvLayout layout = new KvLayout(KvDtype.F32, c.nLayers(), c.nKvHeads(), c.headDim(), config.blockSize());
                kv = KvTransferEngine.create(KvTransferConfig.builder(engineId,
                                KvBlockLayout.fromFields(layout.fields()), Math.multiplyExact((long) blocks, layout.blockBytes()))
                        .zmqBindAddress(config.kvZmqBind()).readTimeout(config.migrationTimeout())
                        .lanes(config.kvLanes() == 0 ? UcxTransport.DEFAULT_LANES : config.kvLanes()).build());
                try {
                    e = new Engine(m, ec, new UcxArenaMemory(kv));
                    if (!e.kvCache().layout().equals(layout)) {
                        e.close();
                        throw new IllegalStateException("engine KV layout " + e.kvCache().layout()
                                + " differs from the registered one " + layout);
                    }
                } catch (RuntimeException ex) {
                    kv.close();
                    throw ex;
                }
            } else {
                e = new Engine(m, ec);
            }
            this.engine = e;
            this.kvTransfer = kv;
            this.model = m;
            this.servedName = config.modelName().isBlank() ? m.name() : config.modelName();
            err.printf(Locale.ROOT, "tandem agent: serving '%s' (%s, %s, %.1fM parameters, %s, %d layers, context %d); "
                            + "KV cache %d blocks x %d = %d tokens; loaded in %.2f s%n",
                    servedName, path, c.architecture().ggufName(), m.weights().parameterCount() / 1e6,
                    m.weightType(), c.nLayers(), engine.maxModelLen(), blocks, config.blockSize(),
                    engine.kvCache().capacityTokens(), (System.nanoTime() - t0) / 1e9);
            if (kv != null) {
                err.printf(Locale.ROOT, "tandem agent: role %s, engine id %s; KV arena registered with UCX "
                                + "(%.1f MiB at 0x%x), control channel %s%n", role.wireName(), engineId,
                        kv.arena().size() / 1048576.0, kv.arena().address(), kv.zmqAddress());
            }
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

    public EngineRole role() {
        return role;
    }

    /** This engine's DistServe id: {@code tandem.agent.engine-id}, or http://HOST:PORT. */
    public String engineId() {
        return engineId;
    }

    /** The KV transfer engine of a prefill or decode agent; null for a hybrid one. */
    public KvTransferEngine kvTransfer() {
        return kvTransfer;
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
     * Whether the controller told this agent to drain (ClusterControl DrainCommand): new generation requests answer
     * 503 while the running ones finish. Unlike {@link #draining()}, /health stays 200: the node is alive, only
     * out of rotation.
     */
    public boolean drainedByController() {
        return drainedByController.get();
    }

    /** Starts (true) or ends (false) a controller drain. */
    public void setDrainedByController(boolean drained) {
        drainedByController.set(drained);
    }

    /**
     * Stops taking requests, lets the running ones finish within {@code grace}, aborts the rest and frees the
     * engine's memory. Idempotent; called from the shutdown hook (SIGTERM) and /terminate.
     */
    public void drainAndClose(Duration grace) {
        draining.set(true);
        if (closed.compareAndSet(false, true)) {
            engine.shutdown(grace);
            if (kvTransfer != null) {
                kvTransfer.close(); // after the engine: it frees the arena the engine used
            }
            model.close();
        }
    }

    @PreDestroy
    @Override
    public void close() {
        drainAndClose(Duration.ZERO);
    }

    /**
     * The engine's KV memory inside the UCX-registered arena. Allocation hands out (a zeroed prefix of) the same
     * registered segment every time, including after a sleep; closing does nothing, since the arena belongs to
     * the {@link KvTransferEngine} and is freed when that closes.
     */
    static final class UcxArenaMemory implements KvMemoryProvider {
        private final KvTransferEngine kv;

        UcxArenaMemory(KvTransferEngine kv) {
            this.kv = kv;
        }

        @Override
        public KvMemory allocate(long bytes) {
            java.lang.foreign.MemorySegment arena = kv.arena().segment();
            if (bytes > arena.byteSize()) {
                throw new IllegalStateException("KV cache of " + bytes + " bytes does not fit the registered arena of "
                        + arena.byteSize() + " bytes");
            }
            java.lang.foreign.MemorySegment seg = arena.asSlice(0, bytes);
            seg.fill((byte) 0);
            return new KvMemory() {
                @Override
                public java.lang.foreign.MemorySegment segment() {
                    return seg;
                }

                @Override
                public void close() {
                    // registered memory stays with the transfer engine (see the class note of AgentEngine)
                }
            };
        }
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
