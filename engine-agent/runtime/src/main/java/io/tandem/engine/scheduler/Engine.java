package io.tandem.engine.scheduler;

import io.tandem.engine.errors.CacheSessionNotFoundException;
import io.tandem.engine.errors.ContextLengthExceededException;
import io.tandem.engine.errors.EngineClosedException;
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
import io.tandem.engine.sampling.FinishReason;
import io.tandem.engine.sampling.SampledToken;
import io.tandem.engine.sampling.Sampler;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.sampling.StopChecker;
import io.tandem.engine.tokenizer.Tokenizer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
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
 */
public final class Engine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final LoadedModel model;
    private final ModelConfig mc;
    private final EngineConfig config;
    private final Tokenizer tokenizer;
    private final int maxModelLen;
    private final KvCache cache;
    private final ComputePool pool;
    private final LlamaForward forward;
    private final ForwardBatch batch;
    private final int[] eogIds;
    private volatile ModelWeights weights;

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
        this.weights = model.weights();
        this.maxModelLen = config.maxModelLen() > 0 ? config.maxModelLen() : mc.contextLength();
        KvLayout layout = new KvLayout(KvDtype.F32, mc.nLayers(), mc.nKvHeads(), mc.headDim(), config.blockSize());
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

    public KvCache kvCache() {
        return cache;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

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
     * @throws QueueFullException              when {@code maxWaiting} requests are already queued
     * @throws ContextLengthExceededException  when the prompt cannot fit the model or the cache
     * @throws IllegalArgumentException        on a token id outside the vocabulary or a duplicate request id
     */
    public GenerationHandle submit(GenerationRequest request, GenerationListener listener) {
        if (closing) {
            throw new EngineClosedException("engine is shutting down");
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

    /** Swaps the weights between two steps; the future completes once the next step uses them. */
    public CompletableFuture<Void> swapWeights(ModelWeights next) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        commands.add(() -> {
            weights = next;
            forward.weightsChanged();
            done.complete(null);
        });
        return done;
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
                releaseExpired();
                if (!running.isEmpty() || !waiting.isEmpty()) {
                    step();
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
        }
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
        CompletableFuture<Void> f;
        try {
            f = s.request.migration().filler().fill(blockIds.clone());
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((v, err) -> commands.add(() -> migrationDone(s, err)));
    }

    private void migrationDone(Sequence s, Throwable err) {
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
        if (minReached && !p.ignoreEos() && tokenizer.isEndOfGeneration(token)) {
            reason = FinishReason.STOP;
        } else if (minReached && p.stopTokenIds().contains(token)) {
            reason = FinishReason.STOP;
            stopReason = token;
        } else {
            boolean last = s.outputCount() >= p.maxTokens() || s.numTokens >= maxModelLen;
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
                reason = FinishReason.LENGTH;
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
    }

    /** Blocks awaiting release: the session ids a {@link #releaseCache} would free. */
    Iterator<HeldCache> heldIterator() {
        return held.values().iterator();
    }
}
