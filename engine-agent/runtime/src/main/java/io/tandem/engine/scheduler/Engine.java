package io.tandem.engine.scheduler;

import io.tandem.engine.errors.CacheSessionNotFoundException;
import io.tandem.engine.errors.ContextLengthExceededException;
import io.tandem.engine.errors.EngineClosedException;
import io.tandem.engine.errors.EngineSleepingException;
import io.tandem.engine.errors.MigrationFailedException;
import io.tandem.engine.errors.QueueFullException;
import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.model.ForwardBatch;
import io.tandem.engine.model.LlamaForward;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.model.ModelWeights;
import io.tandem.engine.model.WeightArenas;
import io.tandem.engine.sampling.FinishReason;
import io.tandem.engine.sampling.SampledToken;
import io.tandem.engine.sampling.Sampler;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.sampling.StopChecker;
import io.tandem.engine.structured.TokenConstraint;
import io.tandem.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The embedded inference engine: a continuous-batching scheduler over a paged KV cache, driving the Llama-family
 * forward pass.
 *
 * <h2>Threading</h2>
 * One loop thread owns every sequence, the running batch and the forward pass. Other threads talk to it through
 * a command queue ({@link #submit}, {@link #abort}, {@link #swapWeights}); listeners are called on the loop
 * thread. The block manager and the held-cache table are thread-safe, so transfer threads can read a held
 * session's blocks and release it directly.
 *
 * <h2>A step</h2>
 * Each step spends a budget of {@code maxBatchTokens} tokens: first one token for every decoding sequence, then
 * the next chunk of any running sequence still prefilling, then new sequences from the waiting queue (FIFO) as
 * far as the budget, {@code maxRunning} and free blocks allow. So a long prompt is prefilled in chunks mixed into
 * decode steps and never stalls the running batch for long. When a running sequence needs a block and none is
 * free, the most recently arrived other running sequence is preempted: its blocks are freed and it goes back to
 * the front of the queue to be recomputed from its tokens later (output already streamed is not repeated).
 *
 * <h2>Migration</h2>
 * A request with {@code keepCache} keeps its blocks after finishing, as a {@link HeldCache} leased for
 * {@code cacheLease}; another engine reads them and {@link #releaseCache(String) releases} them. A request with a
 * {@link MigratedPrefill} gets blocks for its prompt, has them filled from elsewhere, and goes on decoding from
 * the given first token without computing the prompt.
 *
 * <h2>Sleep and weight swaps</h2>
 * {@link #sleep}, {@link #wakeUp} and {@link #updateWeights} are lifecycle operations: the loop runs them in
 * call order between two steps. A sleep first aborts every request and releases every held cache; it then waits
 * until no KV transfer is writing into the arena (a migrating sequence's filler cannot be cancelled) before it
 * frees the arena (level 1) and the weights (level 2: owned update memory and the model file's mapping).
 * Operations called after it wait behind it. While asleep, {@link #submit} refuses work with
 * {@link EngineSleepingException}. Waking re-allocates the arena from the same {@link KvMemoryProvider} (so
 * {@link #kvCache()} returns a new object; {@link #onKvCacheChanged} listeners hear of it) and maps the weights
 * again.
 *
 * <h2>Constrained decoding</h2>
 * When a request's mask is a {@link TokenConstraint}, the loop tells it of every token that joins the output
 * (sampled or forced) and finishes the request with {@code STOP} once it reports a complete value.
 */
public final class Engine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final LoadedModel model;
    private final ModelConfig mc;
    private final EngineConfig config;
    private final Tokenizer tokenizer;
    private final int maxModelLen;
    private final KvLayout layout;
    private final KvMemoryProvider memory;
    // The arena in use: replaced by sleep/wake on the loop thread, read anywhere.
    private volatile KvCache cache;
    private final ComputePool pool;
    private final LlamaForward forward;
    private final ForwardBatch batch;
    private final int[] eogIds;
    // Null while a level-2 sleep has released the weights.
    private volatile ModelWeights weights;
    private final WeightArenas weightArenas = new WeightArenas();
    private final List<Consumer<KvCache>> cacheListeners = new CopyOnWriteArrayList<>();
    // Released state, written by the loop, read anywhere; sleepsPending counts sleep calls not yet done.
    private volatile boolean kvReleased;
    private volatile boolean weightsReleased;
    private final AtomicInteger sleepsPending = new AtomicInteger();

    private final LinkedBlockingQueue<Runnable> commands = new LinkedBlockingQueue<>();
    private final Map<String, Sequence> live = new ConcurrentHashMap<>();
    private final Map<String, HeldCache> held = new ConcurrentHashMap<>();
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicLong arrivals = new AtomicLong();
    private final Thread loop;
    private volatile boolean closing;
    private volatile boolean stopped;

    // Owned by the loop thread.
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private final List<Sequence> planned = new ArrayList<>();
    private int[] plannedChunk = new int[64];
    private int[] plannedRow = new int[64];
    private final ArrayDeque<LifecycleOp> lifecycle = new ArrayDeque<>();
    private int transfersInFlight;

    // Counters, written by the loop, read anywhere.
    private volatile int runningCount;
    private volatile int waitingCount;
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generatedTokens = new AtomicLong();
    private final AtomicLong preemptionCount = new AtomicLong();
    private final AtomicLong stepCount = new AtomicLong();
    private final AtomicLong finishedCount = new AtomicLong();

    public Engine(LoadedModel model, EngineConfig config) {
        this(model, config, KvMemoryProvider.offHeap());
    }

    public Engine(LoadedModel model, EngineConfig config, KvMemoryProvider memory) {
        this.model = model;
        this.mc = model.config();
        this.config = config;
        this.tokenizer = model.tokenizer();
        // A previous engine may have left the model unmapped by a level-2 sleep.
        this.weights = model.isMapped() ? model.weights() : model.remapWeights();
        this.maxModelLen = config.maxModelLen() > 0 ? config.maxModelLen() : mc.contextLength();
        this.layout = new KvLayout(KvDtype.F32, mc.nLayers(), mc.nKvHeads(), mc.headDim(), config.blockSize());
        this.memory = memory;
        this.cache = new KvCache(layout, config.kvBlocks(), memory);
        this.pool = new ComputePool(config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors());
        int maxTokens = Math.max(config.maxBatchTokens(), config.maxRunning());
        this.forward = new LlamaForward(mc, pool, maxTokens, config.maxRunning());
        this.batch = new ForwardBatch(maxTokens, config.maxRunning());
        this.eogIds = endOfGenerationIds(tokenizer, mc.vocabSize());
        this.loop = Thread.ofPlatform().name("tandem-engine").daemon().unstarted(this::runLoop);
        loop.start();
    }

    private static int[] endOfGenerationIds(Tokenizer t, int vocab) {
        int n = Math.min(vocab, t.vocabSize());
        return java.util.stream.IntStream.range(0, n).filter(t::isEndOfGeneration).toArray();
    }

    public LoadedModel model() {
        return model;
    }

    public EngineConfig config() {
        return config;
    }

    /**
     * The KV cache in use. A sleep frees its arena (the object stays, {@link KvCache#isOpen()} false, every block
     * free) and waking allocates a new one, so do not keep the result across a sleep: register with
     * {@link #onKvCacheChanged} instead.
     */
    public KvCache kvCache() {
        return cache;
    }

    /**
     * Registers a listener for arena changes, called on the engine loop: with {@code null} just before a sleep
     * frees the arena (deregister it from any transport now), and with the new cache once waking allocated it.
     * A listener that throws is logged and does not stop the others.
     */
    public void onKvCacheChanged(Consumer<KvCache> listener) {
        cacheListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** The native memory of weights written by weight updates (never the model file's mapping). */
    public WeightArenas weightArenas() {
        return weightArenas;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The weights in use, or null while a level-2 sleep has released them. */
    public ModelWeights weights() {
        return weights;
    }

    /** Longest sequence (prompt plus output) this engine runs. */
    public int maxModelLen() {
        return maxModelLen;
    }

    /**
     * Queues a request. Checks happen here, on the caller's thread, so that bad input is refused before it
     * reaches the loop.
     *
     * @throws EngineClosedException           when shutting down
     * @throws EngineSleepingException         when asleep or going to sleep
     * @throws QueueFullException              when {@code maxWaiting} requests are already queued
     * @throws ContextLengthExceededException  when the prompt cannot fit the model or the cache
     * @throws IllegalArgumentException        on a token id outside the vocabulary or a duplicate request id
     */
    public GenerationHandle submit(GenerationRequest request, GenerationListener listener) {
        if (closing) {
            throw new EngineClosedException("engine is shutting down");
        }
        if (isSleeping()) {
            throw sleepingException();
        }
        int[] prompt = request.prompt();
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= mc.vocabSize()) {
                throw new IllegalArgumentException("prompt token " + i + ": " + prompt[i] + " (expected: 0.."
                        + (mc.vocabSize() - 1) + ")");
            }
        }
        if (request.migration() != null) {
            int ft = request.migration().firstToken();
            if (ft < 0 || ft >= mc.vocabSize()) {
                throw new IllegalArgumentException("first token: " + ft + " (expected: 0.." + (mc.vocabSize() - 1) + ")");
            }
        }
        if (prompt.length >= maxModelLen) {
            throw new ContextLengthExceededException("prompt of " + prompt.length + " tokens does not fit the "
                    + "maximum context length of " + maxModelLen + " tokens (prompt plus at least one output token)");
        }
        int needBlocks = Sequence.blocksFor(prompt.length + 1, config.blockSize());
        if (needBlocks > config.kvBlocks()) {
            throw new ContextLengthExceededException("prompt of " + prompt.length + " tokens needs " + needBlocks
                    + " KV blocks, the cache has " + config.kvBlocks());
        }
        SamplingParams p = request.params();
        Sampler sampler = new Sampler(p, mc.vocabSize(), prompt, eogIds);
        Sequence s = new Sequence(request, listener, arrivals.incrementAndGet(), System.nanoTime(), sampler,
                tokenizer.newContinuationDetokenizer(p.skipSpecialTokens()), new StopChecker(p.stop()));
        if (live.putIfAbsent(request.requestId(), s) != null) {
            throw new IllegalArgumentException("requestId: '" + request.requestId() + "' is already running");
        }
        if (pending.incrementAndGet() > config.maxWaiting()) {
            pending.decrementAndGet();
            live.remove(request.requestId(), s);
            throw new QueueFullException("waiting queue is full (" + config.maxWaiting() + " requests)");
        }
        CompletableFuture<GenerationResult> future = new CompletableFuture<>();
        s.future = future;
        commands.add(() -> enqueue(s));
        if (stopped && live.remove(request.requestId(), s)) {
            // Raced with close(): the loop is gone, so nobody else will finish this request.
            pending.decrementAndGet();
            future.complete(new GenerationResult(s.id(), new int[0], "", FinishReason.ABORT, null, s.promptLen, 0,
                    new EngineClosedException("engine closed"), -1, 0));
        }
        return new GenerationHandle(request.requestId(), future);
    }

    /** Submits and waits for the result. */
    public GenerationResult generate(GenerationRequest request) {
        return submit(request, GenerationListener.NONE).result().join();
    }

    /** Aborts a live request wherever it is; its listener hears an ABORT finish. Unknown ids are ignored. */
    public void abort(String requestId) {
        commands.add(() -> {
            Sequence s = live.get(requestId);
            if (s != null) {
                abortSequence(s, null);
            }
        });
    }

    /** Aborts every live request. */
    public void abortAll() {
        commands.add(() -> List.copyOf(live.values()).forEach(s -> abortSequence(s, null)));
    }

    public boolean isLive(String requestId) {
        return live.containsKey(requestId);
    }

    /** A held prefill session, if there is one under that id. */
    public Optional<HeldCache> heldCache(String sessionId) {
        return Optional.ofNullable(held.get(sessionId));
    }

    /** Ids of the sessions held now. */
    public List<String> heldSessions() {
        return List.copyOf(held.keySet());
    }

    /**
     * Frees a held session's blocks.
     *
     * @throws CacheSessionNotFoundException when no session of that id is held
     */
    public void releaseCache(String sessionId) {
        HeldCache h = held.remove(sessionId);
        if (h == null) {
            throw new CacheSessionNotFoundException("no KV cache held for session '" + sessionId + "'");
        }
        for (int id : h.blockIds()) {
            cache.blocks().release(id);
        }
    }

    /** Frees every held session whose lease has run out; returns how many. */
    public int releaseExpired() {
        Instant now = config.clock().instant();
        int n = 0;
        for (HeldCache h : List.copyOf(held.values())) {
            if (!now.isBefore(h.expiresAt()) && held.remove(h.sessionId(), h)) {
                for (int id : h.blockIds()) {
                    cache.blocks().release(id);
                }
                n++;
            }
        }
        return n;
    }

    /**
     * Swaps the weights between two steps; the future completes once the next step uses them. Owned update
     * memory ({@link #weightArenas()}) of matrices that {@code next} no longer uses is freed.
     */
    public CompletableFuture<Void> swapWeights(ModelWeights next) {
        Objects.requireNonNull(next, "next");
        return updateWeights(current -> next);
    }

    /**
     * Applies {@code update} to the weights in use between two steps and swaps its result in, so that it sees
     * every earlier update. If a level-2 sleep released the weights, it gets them freshly mapped from the model
     * file, and its result counts as woken weights. Once swapped, the owned memory of replaced matrices is
     * freed. Runs on the engine loop, so keep {@code update} cheap (assemble, do not convert).
     *
     * @return completes when the next step uses the new weights; fails with what {@code update} threw (the
     *     weights stay) or {@link EngineClosedException}
     */
    public CompletableFuture<Void> updateWeights(UnaryOperator<ModelWeights> update) {
        Objects.requireNonNull(update, "update");
        return lifecycleOp(new LifecycleOp() {
            @Override
            boolean tryRun() {
                boolean remapped = weightsReleased;
                ModelWeights base = remapped ? model.remapWeights() : weights;
                ModelWeights next;
                try {
                    next = Objects.requireNonNull(update.apply(base), "update returned null");
                } catch (RuntimeException e) {
                    if (remapped) {
                        model.unmapWeights();
                    }
                    throw e;
                }
                ModelWeights prev = weights;
                weights = next;
                weightsReleased = false;
                forward.weightsChanged();
                if (prev != null) {
                    weightArenas.freeReplaced(prev, next);
                }
                return true;
            }
        });
    }

    // ---------------------------------------------------------------- sleep

    /**
     * Puts the engine to sleep: aborts running and queued requests (they finish with {@code ABORT} and an
     * {@link EngineSleepingException}), releases held caches, then frees the KV arena (level 1) and also the
     * weights (level 2: update memory and the model file's mapping). Idempotent; a level-2 sleep after a
     * level-1 one releases the weights too. {@link #submit} refuses work from the moment this is called.
     *
     * @throws IllegalArgumentException when {@code level} is not 1 or 2
     * @return completes once the memory is released
     */
    public CompletableFuture<Void> sleep(int level) {
        if (level != 1 && level != 2) {
            throw new IllegalArgumentException("level: " + level + " (expected: 1 or 2)");
        }
        sleepsPending.incrementAndGet();
        CompletableFuture<Void> f = lifecycleOp(new LifecycleOp() {
            private boolean aborted;

            @Override
            boolean tryRun() {
                if (!aborted) {
                    aborted = true;
                    EngineSleepingException why = new EngineSleepingException("engine went to sleep (level "
                            + level + ")");
                    for (Sequence s : List.copyOf(live.values())) {
                        abortSequence(s, why);
                    }
                    for (HeldCache h : List.copyOf(held.values())) {
                        if (held.remove(h.sessionId(), h)) {
                            for (int id : h.blockIds()) {
                                cache.blocks().release(id);
                            }
                        }
                    }
                }
                if (transfersInFlight > 0) {
                    return false; // a filler still writes into the arena; try again after its migrationDone
                }
                if (!kvReleased) {
                    notifyCacheListeners(null);
                    cache.close();
                    kvReleased = true;
                }
                if (level == 2 && !weightsReleased) {
                    ModelWeights w = weights;
                    weights = null;
                    weightsReleased = true;
                    weightArenas.freeReplaced(w, null);
                    model.unmapWeights();
                }
                return true;
            }
        });
        // Hand out the dependent future, so that a caller who joins it sees isSleeping() without this sleep pending.
        return f.whenComplete((v, e) -> sleepsPending.decrementAndGet());
    }

    /**
     * Restores what a sleep released: {@code "kv_cache"} re-allocates the arena with the same memory provider
     * and configuration, {@code "weights"} maps the weights again from the model file (unless a weight update
     * supplied them since). An empty set means both. Waking what is not asleep does nothing.
     *
     * @throws IllegalArgumentException naming an unknown tag
     */
    public CompletableFuture<Void> wakeUp(Set<String> tags) {
        Objects.requireNonNull(tags, "tags");
        for (String t : tags) {
            if (!"weights".equals(t) && !"kv_cache".equals(t)) {
                throw new IllegalArgumentException("tag: '" + t + "' (expected: weights or kv_cache)");
            }
        }
        boolean kv = tags.isEmpty() || tags.contains("kv_cache");
        boolean w = tags.isEmpty() || tags.contains("weights");
        return lifecycleOp(new LifecycleOp() {
            @Override
            boolean tryRun() {
                if (w && weightsReleased) {
                    weights = model.remapWeights();
                    forward.weightsChanged();
                    weightsReleased = false;
                }
                if (kv && kvReleased) {
                    cache = new KvCache(layout, config.kvBlocks(), memory);
                    kvReleased = false;
                    notifyCacheListeners(cache);
                }
                return true;
            }
        });
    }

    /** True while the KV cache or the weights are released, or a sleep is under way. */
    public boolean isSleeping() {
        return sleepsPending.get() > 0 || kvReleased || weightsReleased;
    }

    private EngineSleepingException sleepingException() {
        return new EngineSleepingException("engine is asleep (" + (kvReleased ? "KV cache" : "")
                + (kvReleased && weightsReleased ? " and " : "") + (weightsReleased ? "weights" : "")
                + (kvReleased || weightsReleased ? " released" : "going to sleep") + "); wake it up first");
    }

    private void notifyCacheListeners(KvCache c) {
        for (Consumer<KvCache> l : cacheListeners) {
            try {
                l.accept(c);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "KV cache listener failed", e);
            }
        }
    }

    /** A sleep, wake-up or weight swap, run by the loop in call order. */
    private abstract static class LifecycleOp {
        final CompletableFuture<Void> done = new CompletableFuture<>();

        /** Does the work; false to be called again on a later loop iteration (nothing after it runs meanwhile). */
        abstract boolean tryRun();
    }

    private CompletableFuture<Void> lifecycleOp(LifecycleOp op) {
        if (closing) {
            return CompletableFuture.failedFuture(new EngineClosedException("engine is shutting down"));
        }
        commands.add(() -> lifecycle.addLast(op));
        if (stopped) {
            // Raced with close(): the loop may be gone.
            op.done.completeExceptionally(new EngineClosedException("engine closed"));
        }
        return op.done;
    }

    /** Runs lifecycle operations from the head while they complete. */
    private void runLifecycle() {
        while (!lifecycle.isEmpty()) {
            LifecycleOp op = lifecycle.peekFirst();
            boolean finished;
            try {
                finished = op.tryRun();
            } catch (RuntimeException e) {
                lifecycle.pollFirst();
                op.done.completeExceptionally(e);
                continue;
            }
            if (!finished) {
                return;
            }
            lifecycle.pollFirst();
            op.done.complete(null);
        }
    }

    public EngineStats stats() {
        return new EngineStats(runningCount, Math.max(waitingCount, pending.get()),
                cache.numBlocks(), cache.blocks().usedBlocks(), held.size(), promptTokens.get(),
                generatedTokens.get(), preemptionCount.get(), stepCount.get(), finishedCount.get());
    }

    // ---------------------------------------------------------------- the loop

    private void runLoop() {
        try {
            while (!stopped) {
                boolean idle = running.isEmpty() && waiting.isEmpty();
                Runnable cmd = idle ? commands.poll(idleWaitMillis(), TimeUnit.MILLISECONDS) : commands.poll();
                while (cmd != null) {
                    runCommand(cmd);
                    cmd = commands.poll();
                }
                runLifecycle();
                releaseExpired();
                if ((!running.isEmpty() || !waiting.isEmpty()) && !kvReleased && !weightsReleased) {
                    try {
                        step();
                    } catch (RuntimeException e) {
                        failStep(e);
                    }
                }
                publishCounts();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            LOG.log(Level.SEVERE, "engine loop failed", t);
            for (Sequence s : List.copyOf(live.values())) {
                finish(s, FinishReason.ABORT, null, t);
            }
        } finally {
            stopped = true;
            for (LifecycleOp op : lifecycle) {
                op.done.completeExceptionally(new EngineClosedException("engine closed"));
            }
            lifecycle.clear();
        }
    }

    /**
     * A step threw (a bug or a resource failure, never bad input, which submit refuses): the sequences it carried
     * end with the error and free their blocks, and the loop goes on serving the others.
     */
    private void failStep(RuntimeException e) {
        LOG.log(Level.SEVERE, "engine step failed; failing its " + planned.size() + " sequences", e);
        for (Sequence s : List.copyOf(planned)) {
            finish(s, FinishReason.ABORT, null, e);
        }
        planned.clear();
    }

    /** Makes the loop's queue lengths visible to {@link #stats()} readers. */
    private void publishCounts() {
        runningCount = running.size();
        waitingCount = waiting.size();
    }

    private void runCommand(Runnable cmd) {
        try {
            cmd.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "engine command failed", e);
        }
    }

    private long idleWaitMillis() {
        long wait = 1000;
        Instant now = config.clock().instant();
        for (HeldCache h : held.values()) {
            wait = Math.min(wait, Math.max(1, Duration.between(now, h.expiresAt()).toMillis()));
        }
        return wait;
    }

    private void enqueue(Sequence s) {
        if (s.abortRequested || s.state == Sequence.State.FINISHED) {
            return;
        }
        if (kvReleased || weightsReleased) {
            // Passed submit's check just before a sleep.
            abortSequence(s, sleepingException());
            return;
        }
        waiting.addLast(s);
    }

    private void step() {
        batch.clear();
        planned.clear();
        int budget = config.maxBatchTokens();

        // 1. One token for every decoding sequence, oldest first. Iterate a copy: reserving may preempt others.
        for (Sequence s : List.copyOf(running)) {
            if (budget == 0) {
                break;
            }
            if (s.state == Sequence.State.RUNNING && s.numTokens - s.numComputed == 1
                    && reserve(s, s.numComputed + 1)) {
                plan(s, 1);
                budget--;
            }
        }
        // 2. The next chunk of running sequences that are still prefilling (recomputation included).
        for (Sequence s : List.copyOf(running)) {
            int need = s.numTokens - s.numComputed;
            if (budget == 0) {
                break;
            }
            if (s.state == Sequence.State.RUNNING && need > 1 && !planned.contains(s)) {
                int chunk = Math.min(need, budget);
                if (reserve(s, s.numComputed + chunk)) {
                    plan(s, chunk);
                    budget -= chunk;
                }
            }
        }
        // 3. Admit from the queue while budget, batch slots and free blocks last; never preempt for a newcomer.
        while (budget > 0 && !waiting.isEmpty() && running.size() < config.maxRunning()) {
            Sequence s = waiting.peekFirst();
            if (s.request.migration() != null && s.numComputed == 0 && s.outputCount() == 0) {
                int n = Sequence.blocksFor(s.promptLen, config.blockSize());
                if (!cache.blocks().canAllocate(n)) {
                    break;
                }
                waiting.pollFirst();
                admitted(s);
                startMigration(s, cache.blocks().allocate(n));
                continue;
            }
            int chunk = Math.min(s.numTokens - s.numComputed, budget);
            int more = Sequence.blocksFor(s.numComputed + chunk, config.blockSize()) - s.numBlocks;
            if (!cache.blocks().canAllocate(more)) {
                break;
            }
            waiting.pollFirst();
            admitted(s);
            s.state = Sequence.State.RUNNING;
            s.addBlocks(cache.blocks().allocate(more));
            plan(s, chunk);
            budget -= chunk;
        }
        if (planned.isEmpty()) {
            return;
        }

        float[] logits = forward.forward(weights, cache, batch);
        stepCount.incrementAndGet();
        int vocab = mc.vocabSize();
        for (int i = 0; i < planned.size(); i++) {
            Sequence s = planned.get(i);
            int chunk = plannedChunk[i];
            if (s.numTokens - s.numComputed > 1 || s.outputCount() == 0) {
                promptTokens.addAndGet(chunk);
            }
            s.numComputed += chunk;
            if (s.state != Sequence.State.RUNNING || plannedRow[i] < 0) {
                continue;
            }
            SampledToken t;
            try {
                t = s.sampler.sample(logits, plannedRow[i] * vocab, s.request.mask());
            } catch (RuntimeException e) {
                finish(s, FinishReason.ABORT, null, e);
                continue;
            }
            s.sampler.accept(t.token());
            appendToken(s, t.token(), t.logprob(), t.top());
        }
    }

    private void admitted(Sequence s) {
        if (!s.admittedOnce) {
            s.admittedOnce = true;
            pending.decrementAndGet();
        }
        running.add(s);
    }

    private void plan(Sequence s, int chunk) {
        int idx = planned.size();
        if (idx == plannedChunk.length) {
            plannedChunk = Arrays.copyOf(plannedChunk, idx * 2);
            plannedRow = Arrays.copyOf(plannedRow, idx * 2);
        }
        boolean wantLogits = s.numComputed + chunk == s.numTokens;
        int[] table = s.blockTable;
        plannedRow[idx] = batch.addSequence(table, s.tokens, s.numComputed, s.numComputed + chunk, s.numComputed,
                wantLogits);
        plannedChunk[idx] = chunk;
        planned.add(s);
    }

    /**
     * Makes sure {@code s} has blocks for {@code positions} positions, preempting later running sequences when
     * none are free. Returns false when {@code s} itself had to leave the running list.
     */
    private boolean reserve(Sequence s, int positions) {
        int more = Sequence.blocksFor(positions, config.blockSize()) - s.numBlocks;
        while (more > 0 && !cache.blocks().canAllocate(more)) {
            Sequence victim = null;
            for (int j = running.size() - 1; j >= 0; j--) {
                Sequence c = running.get(j);
                if (c != s && c.state == Sequence.State.RUNNING && !planned.contains(c)) {
                    victim = c;
                    break;
                }
            }
            if (victim == null) {
                if (running.size() == 1 && held.isEmpty() && s.numBlocks + more > cache.numBlocks()) {
                    // Nothing else to evict and the sequence alone outgrew the cache.
                    finish(s, FinishReason.LENGTH, null, null);
                } else {
                    preempt(s);
                }
                return false;
            }
            preempt(victim);
        }
        if (more > 0) {
            s.addBlocks(cache.blocks().allocate(more));
        }
        return true;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        freeBlocks(s);
        s.numComputed = 0;
        s.state = Sequence.State.WAITING;
        s.preemptions++;
        preemptionCount.incrementAndGet();
        // Back in arrival order, so the oldest work resumes first.
        ArrayDeque<Sequence> later = new ArrayDeque<>();
        while (!waiting.isEmpty() && waiting.peekLast().arrival > s.arrival) {
            later.addFirst(waiting.pollLast());
        }
        waiting.addLast(s);
        waiting.addAll(later);
    }

    private void freeBlocks(Sequence s) {
        cache.blocks().releaseAll(s.blockTable, s.numBlocks);
        s.numBlocks = 0;
    }

    private void startMigration(Sequence s, int[] blockIds) {
        s.state = Sequence.State.AWAITING_KV;
        s.addBlocks(blockIds);
        transfersInFlight++;
        CompletableFuture<Void> f;
        try {
            f = s.request.migration().filler().fill(blockIds.clone());
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((v, err) -> commands.add(() -> migrationDone(s, err)));
    }

    private void migrationDone(Sequence s, Throwable err) {
        transfersInFlight--;
        if (s.state == Sequence.State.FINISHED) {
            // Aborted while the transfer ran; the blocks were kept until now because the transfer wrote them.
            freeBlocks(s);
            return;
        }
        if (err != null) {
            Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
                    ? err.getCause() : err;
            freeBlocks(s); // the transfer is over, so its blocks can go
            finish(s, FinishReason.ABORT, null, new MigrationFailedException(
                    "pulling the KV cache of '" + s.id() + "' failed: " + cause.getMessage(), cause));
            return;
        }
        s.state = Sequence.State.RUNNING;
        s.numComputed = s.promptLen;
        int first = s.request.migration().firstToken();
        s.sampler.accept(first);
        appendToken(s, first, Float.NaN, null);
    }

    private void appendToken(Sequence s, int token, float logprob, io.tandem.engine.sampling.TopLogprob[] top) {
        SamplingParams p = s.request.params();
        boolean minReached = s.outputCount() >= p.minNewTokens();
        s.append(token);
        generatedTokens.incrementAndGet();
        if (s.firstTokenNanos < 0) {
            s.firstTokenNanos = System.nanoTime() - s.submitNanos;
        }
        FinishReason reason = null;
        Object stopReason = null;
        String emitted = "";
        boolean complete = false;
        if (s.request.mask() instanceof TokenConstraint c) {
            try {
                c.accept(token);
                complete = c.isComplete();
            } catch (RuntimeException e) {
                // A forced token (migration) the constraint does not allow, or a broken constraint.
                finish(s, FinishReason.ABORT, null, e);
                return;
            }
        }
        if (minReached && !p.ignoreEos() && tokenizer.isEndOfGeneration(token)) {
            reason = FinishReason.STOP;
        } else if (minReached && p.stopTokenIds().contains(token)) {
            reason = FinishReason.STOP;
            stopReason = token;
        } else {
            boolean last = complete || s.outputCount() >= p.maxTokens() || s.numTokens >= maxModelLen;
            String piece = s.detokenizer.feed(token);
            if (last) {
                piece += s.detokenizer.flush();
            }
            StopChecker.Result r = s.stopChecker.feed(piece);
            emitted = r.text();
            if (r.stopped()) {
                reason = FinishReason.STOP;
                stopReason = r.matchedStop();
            } else if (last) {
                emitted += s.stopChecker.finish();
                reason = complete ? FinishReason.STOP : FinishReason.LENGTH;
            }
        }
        s.text.append(emitted);
        try {
            s.listener.onToken(new TokenOutput(token, emitted, logprob, top));
        } catch (RuntimeException e) {
            finish(s, FinishReason.ABORT, null, e);
            return;
        }
        if (reason != null) {
            finish(s, reason, stopReason, null);
        }
    }

    private void abortSequence(Sequence s, Throwable error) {
        s.abortRequested = true;
        finish(s, FinishReason.ABORT, null, error);
    }

    private void finish(Sequence s, FinishReason reason, Object stopReason, Throwable error) {
        if (s.state == Sequence.State.FINISHED) {
            return;
        }
        Sequence.State was = s.state;
        s.state = Sequence.State.FINISHED;
        running.remove(s);
        if (waiting.remove(s) || (was == Sequence.State.WAITING && !s.admittedOnce)) {
            if (!s.admittedOnce) {
                s.admittedOnce = true;
                pending.decrementAndGet();
            }
        }
        live.remove(s.id(), s);
        if (was == Sequence.State.AWAITING_KV) {
            // The transfer still writes into these blocks; migrationDone frees them.
        } else if (s.request.keepCache() && error == null && reason != FinishReason.ABORT && s.numBlocks > 0) {
            int first = s.numComputed < s.numTokens ? s.tokens[s.numComputed] : -1;
            int[] ids = Arrays.copyOf(s.blockTable, Sequence.blocksFor(s.numComputed, config.blockSize()));
            // Blocks past the computed positions (none in practice) are not part of the session.
            for (int i = ids.length; i < s.numBlocks; i++) {
                cache.blocks().release(s.blockTable[i]);
            }
            s.numBlocks = 0;
            HeldCache prev = held.put(s.id(), new HeldCache(s.id(), ids, s.numComputed, first, cache.layout(),
                    config.clock().instant().plus(config.cacheLease())));
            if (prev != null) {
                for (int id : prev.blockIds()) {
                    cache.blocks().release(id);
                }
            }
        } else {
            freeBlocks(s);
        }
        finishedCount.incrementAndGet();
        publishCounts();
        GenerationResult r = new GenerationResult(s.id(), s.outputTokens(), s.text.toString(), reason, stopReason,
                s.promptLen, s.preemptions, error, s.firstTokenNanos, System.nanoTime() - s.submitNanos);
        try {
            s.listener.onFinish(r);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "listener of " + s.id() + " failed", e);
        }
        s.future.complete(r);
    }

    // ---------------------------------------------------------------- shutdown

    /**
     * Stops taking requests, lets running ones finish for up to {@code grace}, aborts the rest, stops the loop and
     * frees the KV arena.
     */
    public void shutdown(Duration grace) {
        closing = true;
        long deadline = System.nanoTime() + grace.toNanos();
        while (!live.isEmpty() && System.nanoTime() < deadline && !stopped) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        close();
    }

    /** Aborts everything, stops the loop and frees the KV arena and compute threads. Idempotent. */
    @Override
    public void close() {
        closing = true;
        if (!stopped) {
            commands.add(() -> {
                List.copyOf(live.values()).forEach(s -> finish(s, FinishReason.ABORT, null,
                        new EngineClosedException("engine closed")));
                stopped = true;
            });
            try {
                loop.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // Requests that raced with close and never reached the loop.
        for (Sequence s : List.copyOf(live.values())) {
            live.remove(s.id());
            s.future.complete(new GenerationResult(s.id(), new int[0], "", FinishReason.ABORT, null, s.promptLen,
                    0, new EngineClosedException("engine closed"), -1, System.nanoTime() - s.submitNanos));
        }
        held.clear();
        pool.close();
        cache.close();
        ModelWeights w = weights;
        if (w != null) {
            weightArenas.freeReplaced(w, null);
        }
    }
}
