package io.tandem.agent.distserve;

import com.fasterxml.jackson.databind.JsonNode;
import io.micronaut.http.HttpRequest;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.config.EngineRole;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.errors.ConflictException;
import io.tandem.agent.errors.ForbiddenException;
import io.tandem.agent.errors.KvMigrationException;
import io.tandem.agent.errors.NotFoundException;
import io.tandem.agent.errors.UnauthorizedException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.metrics.VllmMetrics;
import io.tandem.engine.errors.CacheSessionNotFoundException;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.HeldCache;
import io.tandem.engine.scheduler.MigratedPrefill;
import io.tandem.kv.KvTransferEngine;
import io.tandem.kv.TransferStats;
import io.tandem.kv.errors.IncompatibleParallelLayoutException;
import io.tandem.kv.errors.InvalidEndpointInfoException;
import io.tandem.kv.errors.LayoutMismatchException;
import io.tandem.kv.errors.PeerUnavailableException;
import io.tandem.kv.layout.ParallelLayout;
import io.tandem.kv.layout.RankPairing;
import io.tandem.kv.ucx.ArenaDescriptor;
import io.tandem.kv.ucx.EndpointInfoCodec;
import jakarta.inject.Singleton;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * DistServe on this agent: the {@code /distserve/*} handshake, the prefill side's held sessions, and the decode
 * side's pulls. The wire is LMDeploy's (field names, integer enums); the transfer is {@link KvTransferEngine}.
 *
 * <h2>Prefill side</h2>
 * A generation request with {@code with_cache} or {@code preserve_cache} runs as engine request
 * {@code pd-<session_id>} with {@code keepCache}: when it finishes, its blocks stay allocated under the engine's
 * lease ({@code tandem.agent.cache-lease}). The engine's held-cache table is the authority on which blocks belong
 * to which session. They are released when the decode side sends FreeCache over the control channel (only
 * connected peers are heard), on {@code /distserve/free_cache} (which, given {@code block_ids}, refuses ids that
 * are not exactly the session's), or when the lease runs out.
 *
 * <h2>Decode side</h2>
 * A request with {@code migration_request} becomes a {@link MigratedPrefill}: the engine allocates
 * {@code ceil(prompt / block_size)} blocks, and the filler reads the remote blocks into them with one coalesced
 * RDMA GET per contiguous run, then tells the prefill side to free the session (on failure too). Every field is
 * checked before anything is allocated: the peer must be connected through {@code p2p_connect}, every remote id
 * must lie inside the peer's registered arena (its length travels in the endpoint info), ids must be distinct and
 * exactly as many as the prompt needs. The decode side cannot know which remote blocks belong to which session:
 * that is why only cluster members (the cluster token, or loopback callers when none is set) may send
 * {@code migration_request}, and why the prefill side frees a session only once.
 *
 * <h2>Failures</h2>
 * A pull fails when the peer's UCX endpoint breaks, when the control channel declares the peer dead (3 s without
 * a pong), or after {@code tandem.agent.migration-timeout}; the engine then frees the request's blocks and the
 * request answers 502 or 504 ({@link KvMigrationException}).
 *
 * <p>Thread-safe: the peer table is a concurrent map; the rest is the engine's and the transfer engine's.
 */
@Singleton
public final class DistServeService {
    private static final Logger LOG = LoggerFactory.getLogger(DistServeService.class);
    /** LMDeploy's DistServeConnectionStatus.SUCCESS, as pydantic writes the enum. */
    static final int STATUS_SUCCESS = 1;
    static final String SESSION_PREFIX = "pd-";

    /** The engine's held-cache key of DistServe session {@code sessionId} (for {@code Engine.releaseCache}). */
    public static String cacheKey(long sessionId) {
        return SESSION_PREFIX + sessionId;
    }
    /** Largest session id: JSON integers beyond 2^53 do not survive JavaScript and Python float paths. */
    static final long MAX_SESSION_ID = (1L << 53) - 1;

    private final AgentEngine agent;
    private final AgentConfig config;
    private final VllmMetrics metrics;
    /** Peers that passed p2p_initialize, by engine id: their num_gpu_blocks. */
    private final Map<String, Long> initialized = new ConcurrentHashMap<>();
    /** Connected peers by engine id: how many of their blocks may be read. */
    private final Map<String, Peer> peers = new ConcurrentHashMap<>();

    /**
     * A connected peer: remote block ids must be below {@code numBlocks}, the smaller of its engine's block count
     * (from p2p_initialize) and its registered arena (from the endpoint info; UCX may round it up).
     */
    record Peer(String engineId, long numBlocks) {
    }

    public DistServeService(AgentEngine agent, AgentConfig config, VllmMetrics metrics) {
        this.agent = agent;
        this.config = config;
        this.metrics = metrics;
        KvTransferEngine kv = agent.kvTransfer();
        if (kv != null) {
            kv.onFreeCache(n -> {
                try {
                    agent.engine().releaseCache(SESSION_PREFIX + n.sessionId());
                } catch (CacheSessionNotFoundException e) {
                    LOG.debug("FreeCache from {} for session {}: not held (lease ran out or freed already)",
                            n.fromEngineId(), n.sessionId());
                }
            });
            kv.onPeerDead(peer -> LOG.warn("KV peer {} is not answering; pulls from it fail", peer));
        }
    }

    // ------------------------------------------------------------------ /distserve/*

    /** {@code GET /distserve/engine_info}: the engine config, JSON-encoded into a string as LMDeploy does. */
    public Map<String, Object> engineInfo() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tp_size", 1);
        m.put("dp_size", 1);
        m.put("pp_size", 1);
        m.put("ep_size", 1);
        m.put("dp_rank", 0);
        m.put("block_size", agent.engine().config().blockSize());
        m.put("num_cpu_blocks", 0);
        m.put("num_gpu_blocks", agent.engine().config().kvBlocks());
        return m;
    }

    /**
     * {@code POST /distserve/p2p_initialize}: checks that this engine and the peer can be paired and answers the
     * endpoints to connect to.
     */
    public Map<String, Object> initialize(JsonNode body) {
        KvTransferEngine kv = requireTransfer("p2p_initialize");
        String localId = Fields.string(body, "local_engine_id", "local_engine_id", 1024);
        String remoteId = Fields.string(body, "remote_engine_id", "remote_engine_id", 1024);
        checkProtocol(body, "protocol");
        JsonNode local = Fields.object(body, "local_engine_config", "local_engine_config", true);
        JsonNode remote = Fields.object(body, "remote_engine_config", "remote_engine_config", true);
        ParallelLayout mine = parallel(local, "local_engine_config");
        ParallelLayout theirs = parallel(remote, "remote_engine_config");
        if (mine.worldSize() != 1) {
            throw new BadParameterException("local_engine_config: " + mine + " (expected: tp1pp1, this engine runs "
                    + "one rank)", "local_engine_config");
        }
        long rank = Fields.integer(body, "rank", "rank", 0, 0, 0L);
        int blockSize = agent.engine().config().blockSize();
        for (var side : List.of(Map.entry("local_engine_config", local), Map.entry("remote_engine_config", remote))) {
            long bs = Fields.integer(side.getValue(), "block_size", side.getKey() + ".block_size", 1,
                    Integer.MAX_VALUE, (long) blockSize);
            if (bs != blockSize) {
                throw new BadParameterException(side.getKey() + ".block_size: " + bs + " (expected: " + blockSize
                        + ", this engine's block size; KV blocks of different sizes cannot be exchanged)",
                        side.getKey() + ".block_size");
            }
        }
        if (!localId.equals(agent.engineId())) {
            // The prefill side only hears FreeCache from the peer id it connected to, and our messages carry our
            // own id: the two must agree, or freed sessions would wait for their lease.
            throw new BadParameterException("local_engine_id: '" + localId + "' but this agent's engine id is '"
                    + agent.engineId() + "' (start it with --engine-id set to the URL the proxy uses)",
                    "local_engine_id");
        }
        ModelConfig mc = agent.model().config();
        boolean prefill = agent.role() == EngineRole.PREFILL;
        try {
            var pairs = RankPairing.pairs(prefill ? mine : theirs, prefill ? theirs : mine, mc.nLayers(), mc.nKvHeads());
            if (pairs.stream().noneMatch(p -> (prefill ? p.prefillRank() : p.decodeRank()) == rank)) {
                throw new IncompatibleParallelLayoutException("rank " + rank + " pairs with no peer rank");
            }
        } catch (IncompatibleParallelLayoutException e) {
            throw new BadParameterException("parallel layouts cannot be paired: " + e.getMessage(),
                    "remote_engine_config");
        }
        initialized.put(remoteId, Fields.integer(remote, "num_gpu_blocks", "remote_engine_config.num_gpu_blocks", 1,
                Integer.MAX_VALUE, null));
        Map<String, Object> endpoint = new LinkedHashMap<>();
        endpoint.put("protocol", KvTransferEngine.PROTOCOL_RDMA);
        endpoint.put("endpoint_info", kv.localEndpointInfo());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", STATUS_SUCCESS);
        out.put("engine_endpoint_info", Map.of("zmq_address", kv.zmqAddress()));
        out.put("kvtransfer_endpoint_info", List.of(endpoint));
        return out;
    }

    /** {@code POST /distserve/p2p_connect}: connects UCX and the control channel to the peer. */
    public Map<String, Object> connect(JsonNode body) {
        KvTransferEngine kv = requireTransfer("p2p_connect");
        checkProtocol(body, "protocol");
        String remoteId = Fields.string(body, "remote_engine_id", "remote_engine_id", 1024);
        Long remoteBlocks = initialized.get(remoteId);
        if (remoteBlocks == null) {
            throw new BadParameterException("remote_engine_id: '" + remoteId + "' was not initialized on this agent "
                    + "(p2p_initialize first)", "remote_engine_id");
        }
        JsonNode engineInfo = Fields.object(body, "remote_engine_endpoint_info", "remote_engine_endpoint_info", true);
        String zmq = Fields.string(engineInfo, "zmq_address", "remote_engine_endpoint_info.zmq_address", 300);
        JsonNode list = body.get("remote_kvtransfer_endpoint_info");
        if (list == null || !list.isArray() || list.isEmpty()) {
            throw new BadParameterException("remote_kvtransfer_endpoint_info: expected a non-empty list of "
                    + "{protocol, endpoint_info}", "remote_kvtransfer_endpoint_info");
        }
        String endpointInfo = null;
        for (int i = 0; i < list.size(); i++) {
            String path = "remote_kvtransfer_endpoint_info[" + i + "]";
            JsonNode e = list.get(i);
            if (!e.isObject()) {
                throw new BadParameterException(path + ": expected an object", "remote_kvtransfer_endpoint_info");
            }
            long protocol = Fields.integer(e, "protocol", path + ".protocol", 1, 3, null);
            String info = Fields.string(e, "endpoint_info", path + ".endpoint_info", EndpointInfoCodec.MAX_LENGTH);
            if (protocol == KvTransferEngine.PROTOCOL_RDMA && endpointInfo == null) {
                endpointInfo = info;
            }
        }
        if (endpointInfo == null) {
            throw new BadParameterException("remote_kvtransfer_endpoint_info: no entry with protocol 2 (RDMA)",
                    "remote_kvtransfer_endpoint_info");
        }
        ArenaDescriptor arena;
        try {
            arena = EndpointInfoCodec.decode(endpointInfo);
            kv.connect(remoteId, endpointInfo, zmq);
        } catch (InvalidEndpointInfoException e) {
            throw new BadParameterException("remote_kvtransfer_endpoint_info: " + e.getMessage(),
                    "remote_kvtransfer_endpoint_info");
        } catch (LayoutMismatchException e) {
            throw new BadParameterException("KV layouts differ in " + e.field() + ": " + e.getMessage(), e.field());
        } catch (PeerUnavailableException e) {
            throw new KvMigrationException("cannot connect to " + remoteId + ": " + e.getMessage(), false);
        }
        Peer peer = new Peer(remoteId, Math.min(remoteBlocks, arena.numBlocks()));
        peers.put(remoteId, peer);
        LOG.info("connected to KV peer {} ({} blocks, control {})", remoteId, peer.numBlocks(), zmq);
        return Map.of("status", STATUS_SUCCESS);
    }

    /** {@code POST /distserve/p2p_drop_connect}. Unknown peers are a no-op. */
    public Map<String, Object> dropConnect(JsonNode body) {
        KvTransferEngine kv = requireTransfer("p2p_drop_connect");
        String remoteId = Fields.string(body, "remote_engine_id", "remote_engine_id", 1024);
        peers.remove(remoteId);
        initialized.remove(remoteId);
        kv.disconnect(remoteId);
        return Map.of("success", true);
    }

    /**
     * {@code POST /distserve/free_cache}: {@code {remote_session_id}} (LMDeploy; older versions send
     * {@code session_id}) and, optionally, {@code block_ids}, which must be exactly the session's blocks.
     */
    public Map<String, Object> freeCache(JsonNode body) {
        if (agent.role() != EngineRole.PREFILL) {
            throw new ConflictException("free_cache: this agent's role is " + agent.role().wireName()
                    + " (expected: prefill; only prefill agents hold sessions)", "role");
        }
        String field = body.has("remote_session_id") ? "remote_session_id" : "session_id";
        long session = Fields.integer(body, field, field, 0, MAX_SESSION_ID, null);
        Engine engine = agent.engine();
        String key = SESSION_PREFIX + session;
        HeldCache held = engine.heldCache(key).orElseThrow(() -> new NotFoundException("session " + session
                + ": no KV cache is held for it (never made, freed already, or its lease ran out)", field));
        if (body.has("block_ids") && !body.get("block_ids").isNull()) {
            int[] given = Fields.ids(body, "block_ids", "block_ids", engine.config().kvBlocks(),
                    engine.config().kvBlocks());
            if (!Arrays.equals(given, held.blockIds())) {
                throw new BadParameterException("block_ids: not the blocks of session " + session
                        + " (nothing was freed)", "block_ids");
            }
        }
        try {
            engine.releaseCache(key);
        } catch (CacheSessionNotFoundException e) {
            throw new NotFoundException("session " + session + ": " + e.getMessage(), field);
        }
        return Map.of("status", "SUCCESS");
    }

    // ------------------------------------------------------------------ generation requests

    /** Where a prefill request's blocks are kept: the session and the engine request id it runs under. */
    public record Prefill(long sessionId, String requestId) {
    }

    /** What the prefill answer adds: LMDeploy's {@code cache_block_ids} and {@code remote_token_ids}. */
    public record CacheInfo(List<Integer> cacheBlockIds, List<Integer> remoteTokenIds) {
    }

    /**
     * Checks a request asking to keep its cache ({@code with_cache} or {@code preserve_cache}); null when it does
     * not ask. Only cluster members, only on a prefill agent, one choice, not streamed.
     */
    public Prefill prefill(HttpRequest<?> http, Boolean withCache, Boolean preserveCache, Long sessionId,
                           int choices, boolean stream) {
        if (!Boolean.TRUE.equals(withCache) && !Boolean.TRUE.equals(preserveCache)) {
            return null;
        }
        String param = Boolean.TRUE.equals(preserveCache) ? "preserve_cache" : "with_cache";
        requireCluster(http, param);
        if (agent.role() != EngineRole.PREFILL) {
            throw new ConflictException(param + ": this agent's role is " + agent.role().wireName()
                    + " (expected: prefill)", param);
        }
        if (choices != 1) {
            throw new BadParameterException(param + ": needs exactly one prompt and n=1, got " + choices + " choices",
                    param);
        }
        if (stream) {
            throw new BadParameterException(param + ": needs stream=false", "stream");
        }
        long session;
        if (sessionId == null) {
            session = ThreadLocalRandom.current().nextLong(1, MAX_SESSION_ID);
        } else if (sessionId < 0 || sessionId > MAX_SESSION_ID) {
            throw new BadParameterException("session_id: " + sessionId + " (expected: 0.." + MAX_SESSION_ID + ")",
                    "session_id");
        } else {
            session = sessionId;
        }
        String key = SESSION_PREFIX + session;
        if (agent.engine().heldCache(key).isPresent() || agent.engine().isLive(key)) {
            throw new ConflictException("session_id: " + session + " already holds a KV cache or is running "
                    + "(free it first)", "session_id");
        }
        return new Prefill(session, key);
    }

    /** The held cache of a finished prefill, or null when the request did not finish with one. */
    public CacheInfo cacheInfo(Prefill p) {
        return agent.engine().heldCache(p.requestId()).map(h -> new CacheInfo(
                Arrays.stream(h.blockIds()).boxed().toList(), List.of(h.firstToken()))).orElse(null);
    }

    /** A decode request's pull: the engine's {@link MigratedPrefill} and the peer it reads from. */
    public record Migration(MigratedPrefill prefill, String remoteEngineId, long remoteSessionId) {
    }

    /**
     * Checks {@code migration_request} and builds the pull; null when the field is absent.
     *
     * @param prompt the prompt's token ids, whose length fixes how many blocks must come
     */
    public Migration migration(HttpRequest<?> http, JsonNode mr, int[] prompt, int choices) {
        if (mr == null || mr.isNull()) {
            return null;
        }
        requireCluster(http, "migration_request");
        if (!mr.isObject()) {
            throw new BadParameterException("migration_request: expected an object, got " + mr.getNodeType(),
                    "migration_request");
        }
        KvTransferEngine kv = agent.kvTransfer();
        if (agent.role() != EngineRole.DECODE || kv == null) {
            throw new ConflictException("migration_request: this agent's role is " + agent.role().wireName()
                    + " (expected: decode)", "migration_request");
        }
        String p = "migration_request.";
        checkProtocol(mr, p + "protocol");
        String remote = Fields.string(mr, "remote_engine_id", p + "remote_engine_id", 1024);
        long session = Fields.integer(mr, "remote_session_id", p + "remote_session_id", 0, MAX_SESSION_ID, null);
        int vocab = agent.model().config().vocabSize();
        int firstToken = Fields.integer(mr, "remote_token_id", p + "remote_token_id", 0, vocab - 1);
        if (Fields.bool(mr, "is_dummy_prefill", p + "is_dummy_prefill", false)) {
            throw new BadParameterException(p + "is_dummy_prefill: true is not supported (expected: false)",
                    p + "is_dummy_prefill");
        }
        if (choices != 1) {
            throw new BadParameterException("migration_request: needs exactly one prompt and n=1, got " + choices
                    + " choices", "n");
        }
        Peer peer = peers.get(remote);
        if (peer == null) {
            throw new BadParameterException(p + "remote_engine_id: '" + Fields.abbreviate(mr.get("remote_engine_id"))
                    + "' is not a connected peer (p2p_initialize and p2p_connect first)", p + "remote_engine_id");
        }
        int blockSize = agent.engine().config().blockSize();
        int need = (prompt.length + blockSize - 1) / blockSize;
        int remoteBlocks = (int) Math.min(Integer.MAX_VALUE, peer.numBlocks());
        int[] remoteIds = Fields.ids(mr, "remote_block_ids", p + "remote_block_ids", remoteBlocks, remoteBlocks);
        if (remoteIds.length != need) {
            throw new BadParameterException(p + "remote_block_ids: " + remoteIds.length + " blocks for a prompt of "
                    + prompt.length + " tokens (expected: " + need + " blocks of " + blockSize + ")",
                    p + "remote_block_ids");
        }
        if (!kv.isPeerAlive(remote)) {
            throw new KvMigrationException("KV peer " + remote + " is not answering (its agent may be down)", false);
        }
        MigratedPrefill.BlockFiller filler = local -> pull(kv, remote, session, remoteIds, local);
        return new Migration(new MigratedPrefill(firstToken, filler), remote, session);
    }

    /**
     * The filler: reads the remote blocks into {@code local}, then tells the prefill side to free the session
     * (on failure too: blocks of a failed pull are not worth keeping). The returned future completes only when
     * no more bytes can land in {@code local} (the transport tears down a timed-out endpoint first).
     */
    private CompletableFuture<Void> pull(KvTransferEngine kv, String remote, long session, int[] remoteIds,
                                         int[] local) {
        CompletableFuture<TransferStats> read;
        try {
            read = kv.read(remote, remoteIds, local);
        } catch (RuntimeException e) {
            read = CompletableFuture.failedFuture(e);
        }
        return read.handle((stats, err) -> {
            try {
                kv.sendFreeCache(remote, session);
            } catch (RuntimeException e) {
                LOG.warn("FreeCache for session {} to {} not sent: {}", session, remote, e.getMessage());
            }
            if (err != null) {
                metrics.recordMigrationFailure();
                Throwable cause = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
                throw new CompletionException(cause);
            }
            metrics.recordMigration(stats.nanos() / 1e9, stats.bytes());
            return null;
        });
    }

    // ------------------------------------------------------------------ checks

    /** 401/403 unless the caller is a cluster member (see {@link ClusterAccess}). */
    public void requireCluster(HttpRequest<?> http, String what) {
        if (!Boolean.TRUE.equals(http.getAttribute(ClusterAccess.ATTRIBUTE, Boolean.class).orElse(false))) {
            if (config.hasClusterToken()) {
                throw new UnauthorizedException(what + ": only cluster members may send it (send the cluster token "
                        + "as 'Authorization: Bearer TOKEN' or '" + ClusterAccess.HEADER + ": TOKEN')", what);
            }
            throw new ForbiddenException(what + ": no cluster token is configured on this agent, so only loopback "
                    + "callers may send it (start the agents with --cluster-token)", what);
        }
    }

    private KvTransferEngine requireTransfer(String what) {
        KvTransferEngine kv = agent.kvTransfer();
        if (kv == null) {
            throw new ConflictException(what + ": this agent's role is " + agent.role().wireName()
                    + " (expected: prefill or decode; start it with --role prefill|decode)", "role");
        }
        return kv;
    }

    private static void checkProtocol(JsonNode body, String path) {
        long protocol = Fields.integer(body, "protocol", path, 1, 3, null);
        if (protocol != KvTransferEngine.PROTOCOL_RDMA) {
            throw new BadParameterException(path + ": " + protocol + " (expected: 2 = RDMA; this agent moves KV with "
                    + "UCX, which picks TCP or shared memory underneath through UCX_TLS)", path);
        }
    }

    private static ParallelLayout parallel(JsonNode cfg, String path) {
        int tp = (int) Fields.integer(cfg, "tp_size", path + ".tp_size", 1, 1 << 16, 1L);
        int pp = (int) Fields.integer(cfg, "pp_size", path + ".pp_size", 1, 1 << 16, 1L);
        return new ParallelLayout(tp, pp);
    }
}
