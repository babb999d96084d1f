package io.tandem.kv;

import io.tandem.kv.control.ControlChannel;
import io.tandem.kv.errors.InvalidEndpointInfoException;
import io.tandem.kv.errors.LayoutMismatchException;
import io.tandem.kv.errors.PeerUnavailableException;
import io.tandem.kv.errors.TransferTimeoutException;
import io.tandem.kv.ucx.ArenaDescriptor;
import io.tandem.kv.ucx.EndpointInfoCodec;
import io.tandem.kv.ucx.UcxTransport;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Moves KV-cache blocks between engines: the one type the agent uses for DistServe migration.
 *
 * <p>One instance per engine (per rank). It owns
 * <ul>
 *   <li>the KV arena ({@link #arena()}): native memory allocated and registered by UCX once, which the engine's
 *       block manager uses as its cache (the agent's {@code KvMemoryProvider} returns {@code arena().segment()});
 *       peers read blocks straight out of it and reads land straight in it, with no copy on either side;</li>
 *   <li>a UCX context and its lanes: workers with their progress threads (see {@link UcxTransport});</li>
 *   <li>a ZeroMQ control channel at {@link #zmqAddress()} (see {@link ControlChannel}).</li>
 * </ul>
 *
 * <h2>How the agent uses it</h2>
 * <pre>{@code
 * // p2p_initialize: answer with our infos
 * engine.zmqAddress();                       // engine_endpoint_info.zmq_address
 * engine.localEndpointInfo();                // kvtransfer_endpoint_info[0].endpoint_info, protocol RDMA (2)
 * // p2p_connect: the peer's infos; fails with LayoutMismatchException naming the field
 * engine.connect(remoteEngineId, remoteEndpointInfo, remoteZmqAddress);
 * // decode side, per migration_request:
 * engine.read(remoteEngineId, remoteBlockIds, localBlockIds)
 *       .whenComplete((stats, error) -> engine.sendFreeCache(remoteEngineId, remoteSessionId));
 * // prefill side:
 * engine.onFreeCache(notice -> scheduler.release(notice.sessionId()));
 * // p2p_drop_connect:
 * engine.disconnect(remoteEngineId);
 * }</pre>
 *
 * <p>Block {@code b} of an arena is the contiguous region at {@code b * layout.blockBytes()}; the layouts of both
 * sides are compared at {@link #connect}, so block ids are all a read needs.
 *
 * <h2>Failures</h2>
 * A read fails (its future completes exceptionally) with {@link PeerUnavailableException} when the peer's UCX
 * endpoint breaks or the control channel declares the peer dead (no pong for {@code peerDeadAfter}), and with
 * {@link TransferTimeoutException} after {@code readTimeout}. Either way the engine stays usable and the next
 * read to that peer reconnects.
 *
 * <h2>Thread safety</h2>
 * All methods are thread-safe and non-blocking except {@link #create}, {@link #connect}, {@link #disconnect} and
 * {@link #close}, which wait for the progress and control threads (microseconds to milliseconds). Futures and
 * listeners are completed and called off those threads, so callers may block in them without stalling transfers.
 */
public final class KvTransferEngine implements AutoCloseable {

    /** LMDeploy's MigrationProtocol.RDMA: the {@code protocol} to publish with {@link #localEndpointInfo()}. */
    public static final int PROTOCOL_RDMA = 2;

    private final KvTransferConfig config;
    private final UcxTransport transport;
    private final ControlChannel control;
    private final List<Consumer<FreeCacheNotice>> freeCacheListeners = new CopyOnWriteArrayList<>();
    private final List<Consumer<String>> peerDeadListeners = new CopyOnWriteArrayList<>();

    private KvTransferEngine(KvTransferConfig config) {
        this.config = config;
        this.transport = UcxTransport.start(config.engineId(), config.numBlocks() * config.layout().blockBytes(),
                config.layout(), config.ucxConfig(), config.maxReadBytes(), config.prefaultArena(),
                config.lanes());
        ControlChannel c;
        try {
            c = ControlChannel.start(config.engineId(), config.zmqBindAddress(), config.pingInterval(),
                    config.peerDeadAfter(), System::nanoTime, new ControlChannel.Listener() {
                        @Override
                        public void onFreeCache(String fromEngineId, long sessionId) {
                            FreeCacheNotice n = new FreeCacheNotice(fromEngineId, sessionId);
                            freeCacheListeners.forEach(l -> l.accept(n));
                        }

                        @Override
                        public void onPeerDead(String peerId) {
                            transport.failPeer(peerId, "not answering on the control channel for "
                                    + config.peerDeadAfter().toMillis() + " ms");
                            peerDeadListeners.forEach(l -> l.accept(peerId));
                        }
                    });
        } catch (RuntimeException e) {
            transport.close();
            throw e;
        }
        this.control = c;
    }

    /** Allocates and registers the arena, starts UCX and binds the control channel. */
    public static KvTransferEngine create(KvTransferConfig config) {
        return new KvTransferEngine(Objects.requireNonNull(config, "config"));
    }

    public KvTransferConfig config() {
        return config;
    }

    /** The KV arena: {@code config().numBlocks()} blocks, zeroed, valid until {@link #close()}. */
    public RegisteredMemory arena() {
        return transport.arena();
    }

    /** This engine's {@code endpoint_info} string, published with protocol {@link #PROTOCOL_RDMA}. */
    public String localEndpointInfo() {
        return transport.endpointInfo();
    }

    /** This engine's {@code zmq_address} ({@code engine_endpoint_info.zmq_address}), with the real port. */
    public String zmqAddress() {
        return control.address();
    }

    /**
     * Connects to a peer engine (at {@code p2p_connect}): checks its layout against ours, creates the UCX
     * endpoint, waits for UCX's wire-up handshake with the peer (at most
     * {@link UcxTransport#DEFAULT_CONNECT_TIMEOUT}), and connects the control channel. Replaces an earlier
     * connection with the same id.
     *
     * @throws InvalidEndpointInfoException when {@code remoteEndpointInfo} or {@code remoteZmqAddress} is malformed
     * @throws LayoutMismatchException naming the first field whose value differs
     * @throws PeerUnavailableException when UCX refuses the peer's address or the peer does not answer
     */
    public void connect(String remoteEngineId, String remoteEndpointInfo, String remoteZmqAddress) {
        checkPeerId(remoteEngineId);
        ArenaDescriptor remote = EndpointInfoCodec.decode(remoteEndpointInfo);
        config.layout().checkCompatible(remote.layout());
        ControlChannel.checkAddress(remoteZmqAddress);
        transport.connect(remoteEngineId, remote);
        control.connect(remoteEngineId, remoteZmqAddress);
    }

    /** Drops a peer (at {@code p2p_drop_connect}); its reads in flight fail. No-op for an unknown peer. */
    public void disconnect(String remoteEngineId) {
        transport.disconnect(remoteEngineId);
        control.disconnect(remoteEngineId);
    }

    /** Whether the peer is connected and answering on the control channel. */
    public boolean isPeerAlive(String remoteEngineId) {
        return transport.isConnected(remoteEngineId) && control.isAlive(remoteEngineId);
    }

    /**
     * Reads blocks of a connected peer into the local arena: remote block {@code remoteBlockIds[i]} lands in
     * local block {@code localBlockIds[i]}. Runs where both the remote and the local ids are consecutive become
     * one RDMA GET; all GETs of the migration are in flight at once.
     *
     * @return completes with the stats once every byte has landed; exceptionally with
     *         {@link PeerUnavailableException} or {@link TransferTimeoutException}. After a failure the local
     *         blocks hold unspecified bytes.
     * @throws IllegalArgumentException when the arrays differ in length or an id is outside either arena
     * @throws PeerUnavailableException when the peer is not connected or has been declared dead
     */
    public CompletableFuture<TransferStats> read(String remoteEngineId, int[] remoteBlockIds, int[] localBlockIds) {
        Objects.requireNonNull(remoteBlockIds, "remoteBlockIds");
        Objects.requireNonNull(localBlockIds, "localBlockIds");
        if (transport.isConnected(remoteEngineId) && !control.isAlive(remoteEngineId)) {
            throw new PeerUnavailableException(remoteEngineId, "not answering on the control channel");
        }
        return transport.read(remoteEngineId, remoteBlockIds, localBlockIds, config.readTimeout());
    }

    /**
     * Tells the peer (the prefill engine) that the blocks it holds for {@code sessionId} may be freed. Queued and
     * sent by the control thread; delivered even after a brief outage of the peer.
     *
     * @throws PeerUnavailableException when the peer is not connected
     */
    public void sendFreeCache(String remoteEngineId, long sessionId) {
        control.sendFreeCache(remoteEngineId, sessionId);
    }

    /** Registers a hook called, on the control channel's callback thread, when a peer frees a session. */
    public void onFreeCache(Consumer<FreeCacheNotice> listener) {
        freeCacheListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** Registers a hook called, on the control channel's callback thread, when a peer is declared dead. */
    public void onPeerDead(Consumer<String> listener) {
        peerDeadListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** Stops the control channel and UCX and frees the arena: the engine must no longer touch it. */
    @Override
    public void close() {
        try {
            control.close();
        } finally {
            transport.close();
        }
    }

    private static void checkPeerId(String id) {
        if (id == null || id.isBlank() || id.length() > 1024) {
            throw new IllegalArgumentException("remoteEngineId: " + (id == null ? "null" : "'" + id + "'")
                    + " (expected: a non-blank id of at most 1024 characters)");
        }
    }
}
