package io.tandem.kv.ucx;

import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.RegisteredMemory;
import io.tandem.kv.TransferStats;
import io.tandem.kv.errors.KvTransferException;
import io.tandem.kv.errors.PeerUnavailableException;
import io.tandem.kv.errors.TransferTimeoutException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.openucx.jucx.UcxCallback;
import org.openucx.jucx.UcxException;
import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpEndpointParams;
import org.openucx.jucx.ucp.UcpMemMapParams;
import org.openucx.jucx.ucp.UcpMemory;
import org.openucx.jucx.ucp.UcpParams;
import org.openucx.jucx.ucp.UcpRemoteKey;
import org.openucx.jucx.ucp.UcpRequest;
import org.openucx.jucx.ucp.UcpWorker;
import org.openucx.jucx.ucp.UcpWorkerParams;

/**
 * KV block transport over UCX (jucx): one {@code UcpContext} per engine with one or more <em>lanes</em> (a
 * {@code UcpWorker} and its progress thread each), the KV arena allocated by UCX and registered once, and RDMA GETs
 * from a peer's arena straight into the local one.
 *
 * <h2>Threading</h2>
 * The context and the arena are created on the caller's thread in {@link #start} and released in {@link #close}
 * after every lane has stopped. Each worker, and every endpoint and rkey on it, belongs to its lane's progress
 * thread; no UCX method of a worker is ever called from another thread. Public methods may be called from any
 * thread: they validate their arguments on the caller's thread, then hand tasks to the progress threads through
 * queues and wake them with {@code ucp_worker_signal} (the one worker call UCX allows from any thread). A progress
 * thread drains its queue, calls {@code progress()} and, when nothing is in flight for a while, sleeps in
 * {@code ucp_worker_wait} until a network event or a signal. Lane 0's worker is the one peers connect to (its
 * address is in {@link #endpointInfo()}) and must keep progressing even when this engine never reads: over TCP, a
 * peer's GET is served by the owner's worker (over shared memory the reader maps the owner's memory and the owner
 * does nothing). Futures are completed on a separate executor, so a caller's continuation never runs on (or
 * blocks) a progress thread.
 *
 * <h2>Lanes</h2>
 * Every lane has its own endpoint to each connected peer (to the peer's lane 0) with the peer's rkey unpacked on
 * it. Where a transport maps the peer's arena into this process (shared memory: {@code ucp_rkey_ptr} succeeds at
 * connect), a migration is cut into one share per lane ({@link ReadPlan#spread}, shares of at least
 * {@link #MIN_LANE_BYTES}), and each lane issues its share's GETs; the migration completes when every share has,
 * and fails, once every share has ended, with the first error (the other lanes' endpoints to the peer are torn
 * down first, so no GET can land after the caller is told). Over shared memory a GET is one {@code memcpy} by the
 * reading thread (below), so one worker copies on one core: at 1.9 ms per 24 MiB it reached 0.76-0.92x
 * ucx_perftest and no more, whereas two threads copy about twice as fast as one on this machine (memcpy of 24 /
 * 96 / 384 MiB, 13.7 / 10.5 / 12.1 GB/s on one thread, 26.7 / 22.9 / 22.1 on two). The context is then created
 * with {@code mt_workers_shared}, as UCX requires for workers on several threads. The default is
 * {@link #DEFAULT_LANES}; one lane is the old single-worker transport. Over TCP a migration stays on lane 0:
 * UCX 1.13 emulates the GET there with active messages from the owner's one worker, which then interleaves the
 * lanes' streams, and two lanes measured slower than one (4k / 16k tokens: 1.10 / 0.53x ucx_perftest against
 * 1.49 / 1.49x, docs/benchmarks.md).
 *
 * <p>How a GET is progressed does not set its speed over shared memory: UCX 1.13 carries it on the posix
 * transport's RMA lane ({@code rma(posix/memory)}; cma cannot be used alone, it has no active messages for the
 * wire-up), and {@code ucp_get_nbx} copies the whole run with one {@code memcpy} and completes inline, before
 * {@code getNonBlocking} returns (traced for every GET of a benchmark run), so there are no fragments left for
 * {@code progress()}. Measured against that suspicion (docs/benchmarks.md, "KV transfer", 24 MiB reads in one
 * process, 200 back to back, medians of three alternations, load 4-7): the caller-observed time per read was
 * 1.93-1.95 ms with this loop, 1.93-1.97 ms with a progress thread that never sleeps, 1.86-1.91 ms when
 * completing futures on the progress thread (rejected, see above), 1.88-1.93 ms with a platform completion thread,
 * 1.90-1.92 ms without the per-read timeout task; {@code read()} to the GET's completion was 1.78-1.85 ms in
 * all of them, about ucx_perftest's 1.86 ms per GET. The 1.5x that the shared-memory benchmark showed at 1k
 * tokens was its harness: ucx_perftest run between our rounds evicted our buffers from the cache, and our first
 * GETs of a round then copied at memory speed (3.6-4 ms), where ucx_perftest's own cold GETs are its untimed
 * warm-ups.
 *
 * <h2>Failures</h2>
 * Endpoints are created in peer-error-handling mode: when the peer dies or the link drops, UCX calls the error
 * handler, every migration in flight on that peer fails with {@link PeerUnavailableException}, the endpoint is
 * force-closed, and the next read re-creates it. A migration that outlives its timeout fails with
 * {@link TransferTimeoutException} and also tears the endpoint down, so that no late byte lands in blocks the
 * caller has already given back. {@link #failPeer} lets the control channel do the same when it stops hearing
 * from the peer (over shared memory a dead peer's mapping can stay readable, so UCX alone may not notice).
 *
 * <h2>Wire-up and teardown (UCX 1.13)</h2>
 * Creating an endpoint starts UCX's wire-up handshake: this worker sends a request and the peer's worker answers
 * with a reply from an endpoint it creates for us. UCX 1.13 aborts the whole process (an assertion in
 * {@code ucp_request_send_state_ff}, "got REP message", fixed in UCX 1.14 by openucx/ucx#8175) when a peer's
 * worker purges a reply it has not sent yet, which it does when our side of the connection disappears first (the
 * peer's TCP connect back fails) or when it destroys its worker. So an endpoint here is never closed, and no
 * worker destroyed, while a wire-up it started may still be pending: every endpoint is flushed right after it is
 * created (the flush completes once the handshake has completed, i.e. once the peer's reply has reached us), a
 * connection that must break before that flush completes is retired and closed only when the flush completes or
 * after {@link #WIREUP_GRACE_MILLIS}, {@link #connect} returns only once the handshake has completed, and
 * {@link #close} first closes every endpoint and waits for the closes, then flushes the worker (replies to peers
 * that connected a moment ago), and only then destroys the rkeys, the arena, the worker and the context.
 *
 * <p>Thread-safe.
 */
public final class UcxTransport implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(UcxTransport.class.getName());
    /** Idle progress() calls before sleeping in ucp_worker_wait: keeps latency low right after a burst. */
    private static final int IDLE_SPINS = 4096;
    /**
     * The same for lanes other than 0: no peer connects to them, they only read, so they go to sleep almost at once
     * instead of spinning on a core that the engine's compute threads (or the completion hand-off) need.
     */
    private static final int EXTRA_LANE_IDLE_SPINS = 64;
    /** Wakes a sleeping worker now and then: timers (keepalive) run inside progress(), and it bounds any lost wake-up. */
    private static final long TICK_MILLIS = 100;
    /** How long {@link #connect(String, ArenaDescriptor)} waits for the wire-up handshake by default. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** The longest a retired endpoint waits for its wire-up to finish before it is closed anyway. */
    static final long WIREUP_GRACE_MILLIS = 10_000;
    /** At close: the longest to wait for endpoint closes, and then for the worker flush. */
    private static final long CLOSE_GRACE_MILLIS = 5_000;
    /**
     * UCX settings this transport applies to its context unless the caller's {@code ucxConfig} or the environment
     * sets them: TCP segments of 512 KiB instead of 8 KiB sends / 64 KiB receives. Over UCX 1.13's TCP
     * transport a GET is emulated: the owner's worker answers with active messages of at most one TX segment,
     * each copied into a send buffer, sent, received into a receive buffer and copied out, so the segment size
     * sets the number of syscalls and callbacks per byte. 512 KiB read 96 MiB in about 0.6x the time of the
     * default (docs/benchmarks.md, "KV transfer"); 1 MiB was no better. It costs about 1.5 MiB of buffers per
     * TCP endpoint. UCX 1.13 aborts a process that receives a segment larger than its receive segments, so
     * contexts also get {@link #ADDRESS_DEFAULTS}: UCX's v2 worker address carries the segment size, and each
     * side clamps what it sends to what the peer advertises, so a peer on UCX's default segments still
     * interoperates (at 8 KiB); the v1 address (UCX 1.13's default) carries no size and nothing is clamped. The
     * two segment keys go together (TCP requires TX &lt;= RX), so setting either one, here or as
     * {@code UCX_TCP_*_SEG_SIZE}, drops both. Only UCX's TCP transport has these keys.
     */
    public static final Map<String, String> TCP_SEGMENT_DEFAULTS = Map.of("TX_SEG_SIZE", "512K", "RX_SEG_SIZE",
            "512K");
    /** UCX's v2 worker address, which carries each transport's segment size (see {@link #TCP_SEGMENT_DEFAULTS}). */
    public static final Map<String, String> ADDRESS_DEFAULTS = Map.of("ADDRESS_VERSION", "v2");
    /** Linux {@code MADV_POPULATE_WRITE} (5.14+): fault pages in writable without touching their contents. */
    private static final int MADV_POPULATE_WRITE = 23;
    /** Linux {@code MADV_POPULATE_READ} (5.14+): populate page tables (readable) without touching contents. */
    private static final int MADV_POPULATE_READ = 22;
    private static final long PAGE = 4096;

    /**
     * The smallest share of one migration worth a lane of its own: below it, the hand-off to another thread costs
     * more than the parallel copy saves (a 2 MiB copy is about 0.15 ms here).
     */
    static final long MIN_LANE_BYTES = 2L << 20;
    /** The default number of lanes: two where the machine has two cores or more. */
    public static final int DEFAULT_LANES = Math.min(2, Runtime.getRuntime().availableProcessors());

    private final String name;
    private final KvBlockLayout layout;
    private final long maxReadBytes;
    /** Prefault the local arena at start, and populate the mapping of each peer's arena at connect. */
    private final boolean prefault;
    private final ScheduledExecutorService timer;
    private final Executor completer;
    /** Connected peers' arenas, for validating reads on the caller's thread. */
    private final Map<String, ArenaDescriptor> remotes = new ConcurrentHashMap<>();
    /** Connected peers whose arena a transport maps into this process (shared memory): their reads are spread. */
    private final Set<String> mappedPeers = ConcurrentHashMap.newKeySet();
    private volatile boolean closing;
    private final Lane[] lanes;
    // Set in start() before any lane starts, released in close() after every lane has stopped.
    private UcpContext context;
    private UcpMemory memory;
    private RegisteredMemory arena;
    private String endpointInfo;

    private UcxTransport(String name, KvBlockLayout layout, long maxReadBytes, boolean prefaultArena, int lanes) {
        this.name = name;
        this.layout = layout;
        this.maxReadBytes = maxReadBytes;
        this.prefault = prefaultArena;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "kv-ucx-timer-" + name);
            t.setDaemon(true);
            return t;
        });
        this.completer = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("kv-ucx-complete-", 0).factory());
        this.lanes = new Lane[lanes];
        for (int i = 0; i < lanes; i++) {
            this.lanes[i] = new Lane(i);
        }
    }

    /**
     * Creates the UCX context and worker, allocates and registers the arena, and starts the progress thread.
     *
     * @param name a label for threads and logs (the engine id)
     * @param arenaBytes bytes of the KV arena, at least one block
     * @param layout the layout of one block
     * @param ucxConfig UCX configuration for this context only, keys without the {@code UCX_} prefix (e.g.
     *        {@code TLS=tcp}, {@code NET_DEVICES=lo}); empty to use the environment and UCX's defaults
     * @param maxReadBytes the largest single GET; longer contiguous runs are split
     */
    public static UcxTransport start(String name, long arenaBytes, KvBlockLayout layout, Map<String, String> ucxConfig,
                                     long maxReadBytes) {
        return start(name, arenaBytes, layout, ucxConfig, maxReadBytes, true, DEFAULT_LANES);
    }

    /**
     * Same as {@link #start(String, long, KvBlockLayout, Map, long)}, choosing whether the arena is prefaulted.
     */
    public static UcxTransport start(String name, long arenaBytes, KvBlockLayout layout, Map<String, String> ucxConfig,
                                     long maxReadBytes, boolean prefaultArena) {
        return start(name, arenaBytes, layout, ucxConfig, maxReadBytes, prefaultArena, DEFAULT_LANES);
    }

    /**
     * Same as {@link #start(String, long, KvBlockLayout, Map, long)}, choosing whether the arena is prefaulted and
     * how many lanes read.
     *
     * @param prefaultArena fault every page of the arena in before returning. A page's first write otherwise
     *        happens inside the first GET that lands on it, at kernel page-fault speed: a cold 96 MiB destination
     *        made a read over TCP 7-10x slower and over shared memory 2-3x (docs/benchmarks.md). Costs that
     *        time once, at start, and commits the arena's memory at once.
     * @param lanes workers, each with its own progress thread, over which every migration of at least
     *        {@code 2 x }{@link #MIN_LANE_BYTES} is spread (see the class comment); 1 for a single worker
     */
    public static UcxTransport start(String name, long arenaBytes, KvBlockLayout layout, Map<String, String> ucxConfig,
                                     long maxReadBytes, boolean prefaultArena, int lanes) {
        if (arenaBytes < layout.blockBytes()) {
            throw new IllegalArgumentException("arenaBytes: " + arenaBytes + " (expected: >= blockBytes "
                    + layout.blockBytes() + ")");
        }
        if (maxReadBytes <= 0) {
            throw new IllegalArgumentException("maxReadBytes: " + maxReadBytes + " (expected: > 0)");
        }
        if (lanes < 1 || lanes > MAX_LANES) {
            throw new IllegalArgumentException("lanes: " + lanes + " (expected: 1 to " + MAX_LANES + ")");
        }
        UcxTransport t = new UcxTransport(name, layout, maxReadBytes, prefaultArena, lanes);
        try {
            t.open(arenaBytes, withDefaults(ucxConfig, System.getenv()));
            for (Lane lane : t.lanes) {
                lane.thread.start();
            }
            for (Lane lane : t.lanes) {
                lane.started.get();
            }
            t.endpointInfo = EndpointInfoCodec.encode(new ArenaDescriptor(t.lanes[0].address,
                    copy(t.memory.getRemoteKeyBuffer()), t.memory.getAddress(), t.memory.getLength(), layout));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            t.close();
            throw new KvTransferException("interrupted while starting UCX", e);
        } catch (ExecutionException e) {
            t.close();
            throw new KvTransferException("cannot start UCX: " + e.getCause().getMessage(), e.getCause());
        } catch (RuntimeException e) {
            t.close();
            throw new KvTransferException("cannot start UCX: " + e.getMessage(), e);
        }
        t.timer.scheduleAtFixedRate(t::wakeAll, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
        return t;
    }

    /** The most lanes one transport may have. */
    public static final int MAX_LANES = 16;

    /**
     * The UCX settings a context gets: {@code ucxConfig}, plus {@link #ADDRESS_DEFAULTS} unless it or the
     * environment sets the address version, plus {@link #TCP_SEGMENT_DEFAULTS} unless it or the environment
     * sets a segment size or its transport list ({@code TLS}, else {@code UCX_TLS}) leaves TCP out (UCX would
     * warn about settings no transport used).
     */
    public static Map<String, String> withDefaults(Map<String, String> ucxConfig, Map<String, String> env) {
        Map<String, String> m = new HashMap<>();
        if (!ucxConfig.containsKey("ADDRESS_VERSION") && !env.containsKey("UCX_ADDRESS_VERSION")) {
            m.putAll(ADDRESS_DEFAULTS);
        }
        boolean segmentsSet = TCP_SEGMENT_DEFAULTS.keySet().stream().anyMatch(k -> ucxConfig.containsKey(k)
                || env.containsKey("UCX_TCP_" + k));
        String tls = ucxConfig.getOrDefault("TLS", env.get("UCX_TLS"));
        if (!segmentsSet && mayUseTcp(tls)) {
            m.putAll(TCP_SEGMENT_DEFAULTS);
        }
        m.putAll(ucxConfig);
        return Map.copyOf(m);
    }

    /** Whether a {@code UCX_TLS} value ({@code null}: unset) may select UCX's TCP transport. */
    static boolean mayUseTcp(String tls) {
        if (tls == null || tls.isBlank()) {
            return true;
        }
        String list = tls.strip();
        boolean exclude = list.startsWith("^");
        if (exclude) {
            list = list.substring(1);
        }
        boolean named = false;
        for (String t : list.split(",")) {
            String n = t.strip().replace("\\", "");
            if (n.equals("tcp") || n.equals("all")) {
                named = true;
            }
        }
        return exclude != named;
    }

    /** The registered KV arena. */
    public RegisteredMemory arena() {
        return arena;
    }

    /** The block layout of the arena. */
    public KvBlockLayout layout() {
        return layout;
    }

    /** This engine's {@code endpoint_info} string (see {@link EndpointInfoCodec}). */
    public String endpointInfo() {
        return endpointInfo;
    }

    /** How many lanes read (see the class comment). */
    public int lanes() {
        return lanes.length;
    }

    /**
     * Same as {@link #connect(String, ArenaDescriptor, Duration)} with {@link #DEFAULT_CONNECT_TIMEOUT}.
     */
    public void connect(String peerId, ArenaDescriptor remote) {
        connect(peerId, remote, DEFAULT_CONNECT_TIMEOUT);
    }

    /**
     * Creates each lane's endpoint to a peer, unpacks its rkey on it and waits until UCX's wire-up handshake with
     * the peer has completed on every lane. The layouts must already have been checked. Replaces an existing
     * connection with the same id.
     *
     * @throws PeerUnavailableException when UCX refuses the peer's address or rkey, the handshake fails, or the
     *         peer does not answer within {@code timeout}; the peer is then not connected
     */
    public void connect(String peerId, ArenaDescriptor remote, Duration timeout) {
        remotes.put(peerId, remote);
        long deadline = System.nanoTime() + timeout.toNanos();
        List<Opened> opened = new ArrayList<>(lanes.length);
        try {
            for (Lane lane : lanes) {
                opened.add(lane.call(() -> lane.open(peerId, remote)));
            }
        } catch (RuntimeException e) {
            forget(peerId, remote);
            if (e instanceof KvTransferException) {
                throw e;
            }
            throw new PeerUnavailableException(peerId, "UCX refused the peer: " + e.getMessage());
        }
        try {
            for (Opened o : opened) {
                o.wired().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            forget(peerId, remote);
            throw new KvTransferException("interrupted while connecting to " + peerId, e);
        } catch (java.util.concurrent.TimeoutException e) {
            forget(peerId, remote);
            throw new PeerUnavailableException(peerId, "no answer to the UCX wire-up within " + timeout.toMillis()
                    + " ms");
        } catch (ExecutionException e) {
            forget(peerId, remote);
            throw new PeerUnavailableException(peerId, "UCX wire-up failed: " + e.getCause().getMessage());
        }
        if (opened.stream().anyMatch(o -> o.mapped() != 0)) {
            mappedPeers.add(peerId);
        } else {
            mappedPeers.remove(peerId);
        }
        if (prefault) {
            opened.stream().mapToLong(Opened::mapped).filter(a -> a != 0).distinct()
                    .forEach(a -> populateMapping(peerId, a, remote.length()));
        }
    }

    /**
     * Over shared memory UCX maps the peer's arena into this process when it unpacks the rkey, without populating
     * the mapping, so the first GET from each page took a page fault inside the copy (a 96 MiB first read of fresh
     * prefill blocks ran at a fifth of the warm speed). {@code madvise(MADV_POPULATE_READ)} populates it here, on
     * the caller's thread so that the progress threads keep serving; it only touches page tables, so if the
     * connection is torn down meanwhile and the range unmapped, the call just fails.
     */
    private void populateMapping(String peerId, long address, long length) {
        long t0 = System.nanoTime();
        long start = address - address % PAGE;
        int rc;
        try {
            rc = (int) Madvise.HANDLE.invokeExact(MemorySegment.ofAddress(start), length + (address - start),
                    MADV_POPULATE_READ);
        } catch (Throwable e) {
            rc = -1;
        }
        int result = rc;
        LOG.log(System.Logger.Level.DEBUG, () -> "UCX transport " + name + ": populating the mapping of " + peerId
                + "'s arena (" + length + " bytes) " + (result == 0 ? "took " : "failed after ")
                + (System.nanoTime() - t0) / 1_000_000 + " ms");
    }

    /** After a failed connect: drops the peer on every lane, unless a newer connect has replaced it. */
    private void forget(String peerId, ArenaDescriptor remote) {
        if (remotes.remove(peerId, remote)) {
            mappedPeers.remove(peerId);
        }
        for (Lane lane : lanes) {
            lane.submit(() -> lane.forget(peerId, remote));
        }
    }

    /** Closes the endpoints to a peer; migrations in flight on it fail. No-op for an unknown peer. */
    public void disconnect(String peerId) {
        remotes.remove(peerId);
        mappedPeers.remove(peerId);
        for (Lane lane : lanes) {
            lane.call(() -> {
                Lane.Peer p = lane.peers.remove(peerId);
                if (p != null) {
                    p.breakConnection("disconnected");
                }
                return null;
            });
        }
    }

    /** Whether {@link #connect} was called for this peer and {@link #disconnect} was not. */
    public boolean isConnected(String peerId) {
        return remotes.containsKey(peerId);
    }

    /**
     * Fails every migration in flight on the peer and tears its endpoints down; the next read reconnects.
     * Called when the control channel declares the peer dead.
     */
    public void failPeer(String peerId, String reason) {
        for (Lane lane : lanes) {
            lane.submit(() -> lane.breakPeer(peerId, reason));
        }
    }

    /**
     * Reads blocks of a connected peer's arena into the local arena: block {@code remoteBlockIds[i]} of the peer
     * lands in local block {@code localBlockIds[i]}. Contiguous runs (remote and local ids both consecutive) are
     * coalesced into one GET, and the migration is spread over the lanes ({@link ReadPlan#spread}); all GETs are
     * in flight at once.
     *
     * @return completes with the stats when every byte has landed, or exceptionally with
     *         {@link PeerUnavailableException} or {@link TransferTimeoutException}; in both cases only once no GET
     *         of this migration can still write to the local arena
     * @throws IllegalArgumentException for ids out of either arena or arrays of different lengths
     * @throws PeerUnavailableException when the peer is not connected
     */
    public CompletableFuture<TransferStats> read(String peerId, int[] remoteBlockIds, int[] localBlockIds,
                                                 Duration timeout) {
        ArenaDescriptor remote = remotes.get(peerId);
        if (remote == null) {
            throw new PeerUnavailableException(peerId, "not connected");
        }
        List<ReadPlan.Read> plan = ReadPlan.plan(remoteBlockIds, localBlockIds, layout.blockBytes(),
                remote.numBlocks(), arena.size() / layout.blockBytes(), maxReadBytes);
        long bytes = (long) remoteBlockIds.length * layout.blockBytes();
        CompletableFuture<TransferStats> future = new CompletableFuture<>();
        if (plan.isEmpty()) {
            future.complete(new TransferStats(0, 0, 0, 0));
            return future;
        }
        List<List<ReadPlan.Read>> shares = lanes.length == 1 || !mappedPeers.contains(peerId) ? List.of(plan)
                : ReadPlan.spread(plan, lanes.length, MIN_LANE_BYTES, PAGE);
        Migration m = new Migration(peerId, future, remoteBlockIds.length, bytes, timeout);
        for (int i = 0; i < shares.size(); i++) {
            if (!shares.get(i).isEmpty()) {
                m.parts.add(new Part(m, lanes[i], shares.get(i)));
            }
        }
        m.remainingParts.set(m.parts.size());
        m.reads = m.parts.stream().mapToInt(p -> p.reads.size()).sum();
        m.pendingReads.set(m.reads);
        m.timeoutTask = timer.schedule(m::timedOut, timeout.toNanos(), TimeUnit.NANOSECONDS);
        for (Part part : m.parts) {
            if (!part.lane.submit(() -> part.lane.start(part))) {
                part.end(new PeerUnavailableException(peerId, "transport closed"));
            }
        }
        return future;
    }

    @Override
    public void close() {
        if (closing) {
            for (Lane lane : lanes) {
                lane.stopped.join();
            }
            return;
        }
        closing = true;
        for (Lane lane : lanes) {
            lane.stop();
        }
        timer.shutdownNow();
        releaseNative();
    }

    private void wakeAll() {
        for (Lane lane : lanes) {
            lane.wake();
        }
    }

    /**
     * Creates the context, and allocates, registers and prefaults the arena (on the caller's thread, before any
     * lane exists). With more than one lane the context is created for workers on several threads.
     */
    private void open(long arenaBytes, Map<String, String> ucxConfig) {
        UcpParams params = new UcpParams().requestRmaFeature().requestWakeupFeature()
                .setMtWorkersShared(lanes.length > 1);
        ucxConfig.forEach(params::setConfig);
        context = new UcpContext(params);
        // UCX allocates the arena: shared-memory transports can then map it into the peer directly, whereas
        // JVM-allocated memory would fall back to a slow emulation path.
        memory = context.memoryMap(new UcpMemMapParams().allocate().setLength(arenaBytes));
        MemorySegment segment = MemorySegment.ofAddress(memory.getAddress()).reinterpret(memory.getLength());
        if (prefault) {
            prefault(segment);
        }
        arena = new Arena(memory.getAddress(), memory.getLength(), segment);
    }

    /** After every lane has stopped (its endpoints closed, its worker destroyed): the arena, then the context. */
    private void releaseNative() {
        if (memory != null) {
            // Peers' GETs of the arena are served by lane 0's worker (TCP) or map it (shared memory); by now every
            // endpoint is closed and the workers flushed, and the arena goes away with the engine anyway.
            memory.deregister();
            memory = null;
        }
        if (context != null) {
            context.close();
            context = null;
        }
    }

    /**
     * Faults every page of the fresh arena in, so that no GET pays for first writes. {@code madvise
     * (MADV_POPULATE_WRITE)} does it without touching the contents; where the kernel lacks it, one zero byte is
     * written per page, which is harmless here because nobody has the arena yet and fresh pages are zero.
     */
    private void prefault(MemorySegment segment) {
        long t0 = System.nanoTime();
        boolean populated = false;
        if (segment.address() % PAGE == 0) {
            try {
                populated = (int) Madvise.HANDLE.invokeExact(segment, segment.byteSize(), MADV_POPULATE_WRITE) == 0;
            } catch (Throwable e) {
                populated = false;
            }
        }
        if (!populated) {
            long first = (PAGE - segment.address() % PAGE) % PAGE;
            for (long o = first; o < segment.byteSize(); o += PAGE) {
                segment.set(ValueLayout.JAVA_BYTE, o, (byte) 0);
            }
        }
        boolean byMadvise = populated;
        LOG.log(System.Logger.Level.DEBUG, () -> "UCX transport " + name + ": prefaulted " + segment.byteSize()
                + " bytes in " + (System.nanoTime() - t0) / 1_000_000 + " ms"
                + (byMadvise ? "" : " (page by page)"));
    }

    /** {@code ucs_status_t ucp_rkey_ptr(ucp_rkey_h rkey, uint64_t raddr, void **addr_p)} from the loaded libucp. */
    private static final class RkeyPtr {
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(
                java.lang.foreign.SymbolLookup.libraryLookup("libucp.so.0", java.lang.foreign.Arena.global())
                        .find("ucp_rkey_ptr").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                        ValueLayout.ADDRESS));
    }

    /** {@code int madvise(void *addr, size_t length, int advice)}, looked up on first use. */
    private static final class Madvise {
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(
                Linker.nativeLinker().defaultLookup().find("madvise").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_INT));
    }

    private static byte[] copy(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        d.clear();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    private static ByteBuffer direct(byte[] bytes) {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length);
        b.put(bytes).flip();
        return b;
    }

    private record Arena(long address, long size, MemorySegment segment) implements RegisteredMemory {
    }

    /** One lane's connection to a peer, as {@link Lane#open} returns it to {@link #connect}. */
    private record Opened(CompletableFuture<Void> wired, long mapped) {
    }

    /**
     * One UCX worker, its progress thread and everything that belongs to that thread: its endpoints, rkeys and
     * the parts of migrations it reads. No UCX method of the worker is called from another thread.
     */
    private final class Lane {
        final int index;
        final Thread thread;
        final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
        final CompletableFuture<Void> started = new CompletableFuture<>();
        final CompletableFuture<Void> stopped = new CompletableFuture<>();
        /**
         * Guards {@link #signalWorker}: other threads call {@code ucp_worker_signal}, which must never race with
         * the progress thread destroying the worker.
         */
        private final Object signalLock = new Object();
        // @GuardedBy("signalLock")
        private UcpWorker signalWorker;
        /** This worker's address, set before {@link #started} completes. */
        byte[] address;

        // Everything below belongs to the progress thread.
        private UcpWorker worker;
        final Map<String, Peer> peers = new HashMap<>();
        /** Connections whose endpoint is to be closed, or whose close has not completed yet. */
        private final List<Connection> retired = new ArrayList<>();
        /** Parts started and not yet ended; while any, the progress thread never sleeps. */
        private int activeParts;
        /** Whether endpoints are created in peer-error-handling mode; cleared when the transports cannot do it. */
        private boolean peerErrorHandling = true;
        private boolean running = true;

        Lane(int index) {
            this.index = index;
            this.thread = Thread.ofPlatform().name("kv-ucx-progress-" + name + (index == 0 ? "" : "-" + index))
                    .daemon(true).unstarted(this::run);
        }

        private void run() {
            try {
                worker = context.newWorker(new UcpWorkerParams());
                address = copy(worker.getAddress());
            } catch (Throwable e) {
                releaseWorker();
                started.completeExceptionally(e);
                stopped.complete(null);
                return;
            }
            peerErrorHandling = probePeerErrorHandling();
            synchronized (signalLock) {
                signalWorker = worker;
            }
            started.complete(null);
            try {
                loop();
            } catch (Throwable e) {
                LOG.log(System.Logger.Level.ERROR, "UCX progress thread " + thread.getName() + " died", e);
            } finally {
                shutdown();
                stopped.complete(null);
            }
        }

        /** Stops the progress thread and waits until it has torn everything of this lane down. */
        void stop() {
            if (thread.getState() == Thread.State.NEW) {
                stopped.complete(null);
                return;
            }
            tasks.add(() -> running = false);
            wake();
            stopped.join();
        }

        /**
         * Tears everything down in the order UCX 1.13 survives: fail the migrations and close every endpoint (each
         * once its wire-up is done), progress until the closes complete, flush the worker so that no wire-up reply
         * to a peer is still queued, then destroy the rkeys and the worker.
         */
        private void shutdown() {
            try {
                for (Peer p : new ArrayList<>(peers.values())) {
                    p.breakConnection("transport closed");
                }
                peers.clear();
                Runnable t;
                while ((t = tasks.poll()) != null) {
                    try {
                        t.run();
                    } catch (RuntimeException ignored) {
                        // a task submitted during shutdown
                    }
                }
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_GRACE_MILLIS);
                drainRetired(false);
                while (!retired.isEmpty() && System.nanoTime() - deadline < 0) {
                    progressOnce();
                    drainRetired(false);
                }
                if (!retired.isEmpty()) {
                    LOG.log(System.Logger.Level.WARNING, "UCX transport " + name + ": " + retired.size()
                            + " endpoint(s) not closed after " + CLOSE_GRACE_MILLIS + " ms; closing anyway");
                    drainRetired(true);
                    for (int i = 0; i < 1000 && retired.stream().anyMatch(r -> !r.closed()); i++) {
                        progressOnce();
                    }
                }
                quiesceWorker();
            } catch (Throwable e) {
                LOG.log(System.Logger.Level.ERROR, "UCX transport " + name + ": error while closing", e);
            } finally {
                for (Connection c : retired) {
                    c.destroyRkey();
                }
                retired.clear();
                releaseWorker();
            }
        }

        /**
         * Flushes the worker, i.e. every endpoint of it including those UCX created for peers that connected to
         * us, so that a wire-up reply still queued to such a peer is sent (or fails) before the worker is
         * destroyed.
         */
        private void quiesceWorker() {
            boolean[] done = {false};
            UcpRequest flush;
            try {
                flush = worker.flushNonBlocking(new UcxCallback() {
                    @Override
                    public void onSuccess(UcpRequest request) {
                        done[0] = true;
                    }

                    @Override
                    public void onError(int status, String message) {
                        done[0] = true;
                    }
                });
            } catch (RuntimeException e) {
                return; // flush failed at once: nothing left to wait for
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_GRACE_MILLIS);
            while (!done[0] && !flush.isCompleted() && System.nanoTime() - deadline < 0) {
                progressOnce();
            }
            if (!done[0] && !flush.isCompleted()) {
                LOG.log(System.Logger.Level.WARNING, "UCX transport " + name + ": worker flush did not complete in "
                        + CLOSE_GRACE_MILLIS + " ms");
            }
        }

        private void releaseWorker() {
            synchronized (signalLock) {
                signalWorker = null;
            }
            if (worker != null) {
                worker.close();
                worker = null;
            }
        }

        private void progressOnce() {
            try {
                worker.progress();
            } catch (Exception e) {
                throw new KvTransferException("UCX progress failed: " + e.getMessage(), e);
            }
        }

        private void loop() throws Exception {
            int idleSpins = index == 0 ? IDLE_SPINS : EXTRA_LANE_IDLE_SPINS;
            int idle = 0;
            while (running) {
                Runnable t;
                boolean worked = false;
                while ((t = tasks.poll()) != null) {
                    t.run();
                    worked = true;
                }
                if (!running) {
                    break;
                }
                if (worker.progress() > 0) {
                    worked = true;
                }
                if (!retired.isEmpty()) {
                    drainRetired(false);
                }
                if (worked || activeParts > 0) {
                    idle = 0;
                } else if (++idle >= idleSpins && tasks.isEmpty()) {
                    worker.waitForEvents();
                    idle = 0;
                }
            }
        }

        /**
         * Whether this context's transports can create endpoints in peer-error-handling mode. UCX 1.13's
         * shared-memory transports alone cannot (they have no peer-failure detection) and UCX then refuses such
         * endpoints as unreachable; probe once with an endpoint to our own worker. Without it, dead peers are
         * still caught by the control channel ({@link #failPeer}) and by read timeouts.
         */
        private boolean probePeerErrorHandling() {
            try {
                UcpEndpoint self = worker.newEndpoint(new UcpEndpointParams().setUcpAddress(worker.getAddress())
                        .setPeerErrorHandlingMode());
                // Over TCP this starts a wire-up with ourselves: retire it, so that it is closed once that is done.
                retire(new Connection(self));
                return true;
            } catch (UcxException e) {
                if (index == 0) {
                    LOG.log(System.Logger.Level.INFO, "UCX transports of " + name + " cannot detect peer failure ("
                            + e.getMessage() + "); relying on control-channel liveness and read timeouts");
                }
                return false;
            }
        }

        /** Connects this lane to a peer, replacing an earlier connection of the same id. */
        Opened open(String peerId, ArenaDescriptor remote) {
            Peer old = peers.remove(peerId);
            if (old != null) {
                old.breakConnection("replaced by a new connection");
            }
            Peer p = new Peer(peerId, remote);
            peers.put(peerId, p);
            p.open();
            return new Opened(p.conn.wired, p.conn.mappedAddress(remote));
        }

        /** After a failed connect: drops the peer, unless a newer connect has replaced it. */
        void forget(String peerId, ArenaDescriptor remote) {
            Peer p = peers.get(peerId);
            if (p != null && p.remote == remote) {
                peers.remove(peerId);
                p.breakConnection("connect failed");
            }
        }

        void breakPeer(String peerId, String reason) {
            Peer p = peers.get(peerId);
            if (p != null) {
                p.breakConnection(reason);
            }
        }

        /** Issues the GETs of one part on this lane's connection to the migration's peer. */
        void start(Part part) {
            Migration m = part.migration;
            if (m.failure.get() != null) {
                part.end(null); // another part failed before this one started
                return;
            }
            Peer p = peers.get(m.peerId);
            if (p == null) {
                part.end(new PeerUnavailableException(m.peerId, "not connected"));
                return;
            }
            try {
                if (p.conn == null) {
                    p.open();
                }
            } catch (RuntimeException e) {
                part.end(new PeerUnavailableException(m.peerId, "cannot reconnect: " + e.getMessage()));
                return;
            }
            Connection c = p.conn;
            part.peer = p;
            part.active = true;
            activeParts++;
            p.parts.add(part);
            long remoteBase = p.remote.baseAddress();
            long localBase = arena.address();
            // Count every read before issuing any: a GET that completes inline (shared memory) calls back at once.
            part.pending = part.reads.size();
            for (ReadPlan.Read r : part.reads) {
                if (part.ended.get()) {
                    return;
                }
                UcxCallback cb = new UcxCallback() {
                    private boolean finished;

                    @Override
                    public void onSuccess(UcpRequest request) {
                        if (finish()) {
                            part.readDone();
                        }
                    }

                    @Override
                    public void onError(int status, String message) {
                        if (finish()) {
                            String reason = "RDMA read failed: " + message + " (ucs_status " + status + ")";
                            if (p.conn == c) {
                                // Tear the endpoint down: no other GET of this part may land after the failure.
                                p.breakConnection(reason);
                            } else {
                                part.end(new PeerUnavailableException(m.peerId, reason));
                            }
                        }
                    }

                    private boolean finish() {
                        if (finished) {
                            return false;
                        }
                        finished = true;
                        return true;
                    }
                };
                try {
                    c.ep.getNonBlocking(remoteBase + r.remoteOffset(), c.rkey, localBase + r.localOffset(),
                            r.bytes(), cb);
                } catch (RuntimeException e) {
                    cb.onError(-1, String.valueOf(e.getMessage()));
                    return;
                }
            }
        }

        /** Retires a connection: it is closed once its wire-up is done or its grace is over. */
        private void retire(Connection c) {
            c.retireDeadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WIREUP_GRACE_MILLIS);
            retired.add(c);
            drainRetired(false);
        }

        /**
         * Closes retired endpoints whose wire-up is done (all of them when {@code force}, or once their grace is
         * over) and destroys the rkey of each whose close has completed.
         */
        private void drainRetired(boolean force) {
            long now = System.nanoTime();
            for (int i = 0; i < retired.size(); ) {
                Connection c = retired.get(i);
                if (!c.closeStarted && (force || c.wireupDone || now - c.retireDeadline >= 0)) {
                    if (!c.wireupDone) {
                        LOG.log(System.Logger.Level.WARNING, "UCX transport " + name
                                + ": closing an endpoint whose wire-up has not completed");
                    }
                    c.startClose();
                }
                if (c.closed()) {
                    c.destroyRkey();
                    retired.remove(i);
                } else {
                    i++;
                }
            }
        }

        boolean onThread() {
            return Thread.currentThread() == thread;
        }

        /** Queues a task for the progress thread; false once the transport is closing (and not from it). */
        boolean submit(Runnable task) {
            if (closing && !onThread()) {
                return false;
            }
            tasks.add(task);
            wake();
            return true;
        }

        <T> T call(java.util.concurrent.Callable<T> task) {
            CompletableFuture<T> f = new CompletableFuture<>();
            if (!submit(() -> {
                try {
                    f.complete(task.call());
                } catch (Throwable e) {
                    f.completeExceptionally(e);
                }
            })) {
                throw new KvTransferException("UCX transport " + name + " is closed");
            }
            try {
                return f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new KvTransferException("interrupted", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw new KvTransferException(String.valueOf(e.getCause().getMessage()), e.getCause());
            }
        }

        void wake() {
            synchronized (signalLock) {
                if (signalWorker != null) {
                    signalWorker.signal();
                }
            }
        }

        /**
         * One UCX endpoint and the peer's rkey unpacked on it. Progress thread only. The endpoint is flushed as soon
         * as it is created: that flush completes once UCX's wire-up with the peer is done, and only then may the
         * endpoint be closed (see the class comment); the rkey is destroyed only once the close has completed.
         */
        private final class Connection {
            final UcpEndpoint ep;
            UcpRemoteKey rkey;
            /** Completes when the wire-up is done, exceptionally when it fails. */
            final CompletableFuture<Void> wired = new CompletableFuture<>();
            boolean wireupDone;
            boolean closeStarted;
            UcpRequest closeRequest;
            long retireDeadline;

            Connection(UcpEndpoint ep) {
                this.ep = ep;
                try {
                    ep.flushNonBlocking(new UcxCallback() {
                        @Override
                        public void onSuccess(UcpRequest request) {
                            wireupDone = true;
                            completer.execute(() -> wired.complete(null));
                        }

                        @Override
                        public void onError(int status, String message) {
                            wireupFailed(message + " (ucs_status " + status + ")");
                        }
                    });
                } catch (RuntimeException e) {
                    wireupFailed(String.valueOf(e.getMessage()));
                }
            }

            private void wireupFailed(String message) {
                if (wireupDone) {
                    return;
                }
                wireupDone = true;
                completer.execute(() -> wired.completeExceptionally(new KvTransferException(message)));
            }

            /**
             * Where the peer's arena is mapped into this process ({@code ucp_rkey_ptr}), or 0 when no transport of
             * this connection maps it (TCP) or UCX refuses. Progress thread only.
             */
            long mappedAddress(ArenaDescriptor remote) {
                if (rkey == null) {
                    return 0;
                }
                try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                    MemorySegment out = a.allocate(ValueLayout.ADDRESS);
                    int status = (int) RkeyPtr.HANDLE.invokeExact(MemorySegment.ofAddress(rkey.getNativeId()),
                            remote.baseAddress(), out);
                    return status == 0 ? out.get(ValueLayout.ADDRESS, 0).address() : 0;
                } catch (Throwable e) {
                    return 0;
                }
            }

            void startClose() {
                closeStarted = true;
                try {
                    closeRequest = ep.closeNonBlockingForce();
                } catch (RuntimeException e) {
                    closeRequest = null;
                }
            }

            boolean closed() {
                return closeStarted && (closeRequest == null || closeRequest.isCompleted());
            }

            void destroyRkey() {
                if (rkey != null) {
                    try {
                        rkey.close();
                    } catch (RuntimeException e) {
                        LOG.log(System.Logger.Level.WARNING, "UCX transport " + name + ": cannot destroy an rkey", e);
                    }
                    rkey = null;
                }
            }
        }

        /** A connected peer. Progress thread only. */
        private final class Peer {
            final String id;
            final ArenaDescriptor remote;
            final Set<Part> parts = new LinkedHashSet<>();
            /** The current connection; null after a failure until the next read reconnects. */
            Connection conn;

            Peer(String id, ArenaDescriptor remote) {
                this.id = id;
                this.remote = remote;
            }

            void open() {
                UcpEndpoint ep = newEndpoint();
                Connection c = new Connection(ep);
                try {
                    c.rkey = ep.unpackRemoteKey(direct(remote.rkey()));
                } catch (RuntimeException e) {
                    retire(c);
                    throw e;
                }
                conn = c;
                c.wired.whenComplete((ok, error) -> {
                    if (error != null) {
                        submit(() -> {
                            if (conn == c) {
                                breakConnection("UCX wire-up failed: " + error.getMessage());
                            }
                        });
                    }
                });
            }

            private UcpEndpoint newEndpoint() {
                UcpEndpointParams p = params();
                if (peerErrorHandling) {
                    p.setPeerErrorHandlingMode();
                }
                return worker.newEndpoint(p);
            }

            private UcpEndpointParams params() {
                return new UcpEndpointParams()
                        .setName("kv-" + id)
                        .setUcpAddress(direct(remote.workerAddress()))
                        .setErrorHandler((failed, status, message) -> onEndpointError(failed, status, message));
            }

            void onEndpointError(UcpEndpoint failed, int status, String message) {
                if (conn == null || failed != conn.ep) {
                    return; // an endpoint already torn down
                }
                LOG.log(System.Logger.Level.WARNING, "UCX endpoint to " + id + " failed: " + message);
                breakConnection("connection failed: " + message + " (ucs_status " + status + ")");
            }

            /** Ends the parts in flight with an error and retires the connection; the next read re-creates it. */
            void breakConnection(String reason) {
                Connection c = conn;
                conn = null;
                for (Part part : new ArrayList<>(parts)) {
                    part.end(new PeerUnavailableException(id, reason));
                }
                parts.clear();
                if (c != null) {
                    retire(c);
                }
            }
        }

    }

    /**
     * One lane's share of a migration. Its lane-side fields belong to that lane's progress thread; {@link #end} may
     * also be called by another thread for a part its lane never got (the transport was closing).
     */
    private static final class Part {
        final Migration migration;
        final Lane lane;
        final List<ReadPlan.Read> reads;
        final AtomicBoolean ended = new AtomicBoolean();
        // lane thread only:
        Lane.Peer peer;
        int pending;
        boolean active;

        Part(Migration migration, Lane lane, List<ReadPlan.Read> reads) {
            this.migration = migration;
            this.lane = lane;
            this.reads = reads;
        }

        void readDone() {
            migration.pendingReads.decrementAndGet();
            if (--pending == 0) {
                end(null);
            }
        }

        /** Ends this part, once: with {@code error}, or {@code null} when its reads are done (or not needed). */
        void end(RuntimeException error) {
            if (!ended.compareAndSet(false, true)) {
                return;
            }
            if (active) {
                active = false;
                lane.activeParts--;
                peer.parts.remove(this);
            }
            migration.partEnded(error);
        }

        /**
         * After another part failed or the migration timed out (lane thread): tears this lane's endpoint to the
         * peer down if this part still has GETs in flight, so that none lands after the caller is told.
         */
        void abort(String reason) {
            if (ended.get()) {
                return;
            }
            if (active && peer.conn != null) {
                peer.breakConnection(reason);
            }
            end(null);
        }
    }

    /** One read() call: its parts, one per lane used, and how it ends. Thread-safe. */
    private final class Migration {
        final String peerId;
        final CompletableFuture<TransferStats> future;
        final int blocks;
        final long bytes;
        final Duration timeout;
        final long startNanos = System.nanoTime();
        final List<Part> parts = new ArrayList<>();
        final AtomicInteger remainingParts = new AtomicInteger();
        /** GETs issued over all parts; set before any part is handed to its lane. */
        int reads;
        final AtomicInteger pendingReads = new AtomicInteger();
        /** The first error of any part, or the timeout; the migration fails with it once every part has ended. */
        final AtomicReference<RuntimeException> failure = new AtomicReference<>();
        volatile ScheduledFuture<?> timeoutTask;

        Migration(String peerId, CompletableFuture<TransferStats> future, int blocks, long bytes, Duration timeout) {
            this.peerId = peerId;
            this.future = future;
            this.blocks = blocks;
            this.bytes = bytes;
            this.timeout = timeout;
        }

        void partEnded(RuntimeException error) {
            if (error != null && failure.compareAndSet(null, error)) {
                abortParts("another lane's read failed: " + error.getMessage());
            }
            if (remainingParts.decrementAndGet() == 0) {
                ScheduledFuture<?> t = timeoutTask;
                if (t != null) {
                    t.cancel(false);
                }
                RuntimeException f = failure.get();
                TransferStats s = new TransferStats(blocks, reads, bytes, System.nanoTime() - startNanos);
                completer.execute(() -> {
                    if (f == null) {
                        future.complete(s);
                    } else {
                        future.completeExceptionally(f);
                    }
                });
            }
        }

        /** On the timer thread: fails the migration and tears down the endpoints its unfinished parts use. */
        void timedOut() {
            if (failure.compareAndSet(null, new TransferTimeoutException(peerId, timeout, pendingReads.get()))) {
                abortParts("a read timed out after " + timeout.toMillis() + " ms");
            }
        }

        private void abortParts(String reason) {
            for (Part p : parts) {
                if (p.ended.get()) {
                    continue;
                }
                if (p.lane.onThread()) {
                    p.abort(reason);
                } else if (!p.lane.submit(() -> p.abort(reason))) {
                    p.lane.stopped.thenRun(() -> p.end(null)); // the lane's shutdown ends what it had
                }
            }
        }
    }
}
