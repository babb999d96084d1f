package io.tandem.kv.control;

import com.google.protobuf.InvalidProtocolBufferException;
import io.tandem.kv.errors.InvalidEndpointInfoException;
import io.tandem.kv.errors.KvTransferException;
import io.tandem.kv.errors.PeerUnavailableException;
import io.tandem.proto.ControlMessage;
import io.tandem.proto.FreeCache;
import io.tandem.proto.Ping;
import io.tandem.proto.Pong;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * The ZeroMQ (jeromq) control channel of one engine: a ROUTER socket bound at the engine's {@code zmq_address},
 * and one DEALER socket connected to each peer's. Every frame is a protobuf {@link ControlMessage}.
 *
 * <ul>
 *   <li>{@link #sendFreeCache}: the decode side tells the prefill side that a session's blocks may be freed;
 *       the prefill side's {@link Listener#onFreeCache} runs. Notices from engines that are not connected peers
 *       are dropped.</li>
 *   <li>Liveness: every {@code pingInterval} each DEALER sends a Ping, which the peer's ROUTER answers with a
 *       Pong. A peer silent for {@code deadAfter} is reported through {@link Listener#onPeerDead}; it comes back
 *       ({@link Listener#onPeerAlive}) as soon as it is heard again. While a peer is dead its DEALER is replaced by a
 *       fresh one every {@code deadAfter} (ZeroMQ's "lazy pirate" pattern): a DEALER whose connection went silent
 *       without closing (a peer that died mid-handshake, a half-open TCP connection) would otherwise wait out
 *       ZeroMQ's 30-second handshake limit or TCP's timeouts, and never see the peer restarted at the same
 *       address.</li>
 * </ul>
 *
 * <h2>Threading</h2>
 * All sockets and the ZeroMQ context belong to one control thread, which is never interrupted (jeromq sockets
 * break when their thread is). Other threads hand it commands through a queue and wake its poll through a
 * {@link Pipe}. Listener callbacks run, in order, on a separate single callback thread, so a slow listener never
 * delays pongs. Thread-safe.
 */
public final class ControlChannel implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(ControlChannel.class.getName());
    /** tcp://host:port, as peers publish it in engine_endpoint_info.zmq_address. */
    private static final Pattern ADDRESS = Pattern.compile("tcp://[A-Za-z0-9.\\-]{1,253}:[0-9]{1,5}");
    /** Largest control frame accepted; real ones are a few dozen bytes. */
    private static final int MAX_FRAME = 64 * 1024;

    /** What the channel reports. Called on the callback thread, one call at a time. */
    public interface Listener {
        /** A connected peer says that the blocks of {@code sessionId} may be freed. */
        default void onFreeCache(String fromEngineId, long sessionId) {
        }

        /** Nothing came from the peer for {@code deadAfter}. */
        default void onPeerDead(String peerId) {
        }

        /** A peer reported dead has been heard again. */
        default void onPeerAlive(String peerId) {
        }
    }

    private final String engineId;
    private final long pingIntervalNanos;
    private final LongSupplier clock;
    private final Listener listener;
    private final Thread thread;
    private final ExecutorService callbacks;
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final Pipe wakeup;
    private final CompletableFuture<String> bound = new CompletableFuture<>();
    private final Set<String> alive = ConcurrentHashMap.newKeySet();
    private final Set<String> connected = ConcurrentHashMap.newKeySet();
    private volatile boolean closing;

    // Control thread only.
    private final Liveness liveness;
    private final Map<String, ZMQ.Socket> dealers = new HashMap<>();
    private final Map<String, String> addresses = new HashMap<>();
    /** When each dead peer's DEALER is next replaced. */
    private final Map<String, Long> redialAt = new HashMap<>();
    private boolean running = true;
    private long pingSeq;

    private ControlChannel(String engineId, String bindAddress, Duration pingInterval, Duration deadAfter,
                           LongSupplier clock, Listener listener) throws IOException {
        this.engineId = engineId;
        this.pingIntervalNanos = pingInterval.toNanos();
        this.clock = clock;
        this.listener = listener;
        this.liveness = new Liveness(deadAfter.toNanos());
        this.wakeup = Pipe.open();
        wakeup.source().configureBlocking(false);
        wakeup.sink().configureBlocking(false);
        this.callbacks = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "kv-control-callbacks-" + engineId);
            t.setDaemon(true);
            return t;
        });
        this.thread = Thread.ofPlatform().name("kv-control-" + engineId).daemon(true)
                .unstarted(() -> run(bindAddress));
    }

    /**
     * Binds the ROUTER socket and starts the control thread.
     *
     * @param engineId this engine's id, sent with every message
     * @param bindAddress e.g. {@code tcp://127.0.0.1:5557}, or {@code tcp://127.0.0.1:*} for a free port
     * @param pingInterval how often each peer is pinged
     * @param deadAfter silence after which a peer is reported dead; more than {@code pingInterval}
     * @param clock nanosecond clock for liveness ({@code System::nanoTime})
     */
    public static ControlChannel start(String engineId, String bindAddress, Duration pingInterval, Duration deadAfter,
                                       LongSupplier clock, Listener listener) {
        if (pingInterval.isNegative() || pingInterval.isZero()) {
            throw new IllegalArgumentException("pingInterval: " + pingInterval + " (expected: > 0)");
        }
        if (deadAfter.compareTo(pingInterval) <= 0) {
            throw new IllegalArgumentException("deadAfter: " + deadAfter + " (expected: > pingInterval "
                    + pingInterval + ")");
        }
        ControlChannel c;
        try {
            c = new ControlChannel(engineId, bindAddress, pingInterval, deadAfter, clock, listener);
        } catch (IOException e) {
            throw new KvTransferException("cannot open the control channel's wake-up pipe", e);
        }
        c.thread.start();
        try {
            c.bound.get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            c.close();
            throw new KvTransferException("interrupted while binding " + bindAddress, e);
        } catch (ExecutionException | TimeoutException e) {
            c.close();
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new KvTransferException("cannot bind the control channel at " + bindAddress + ": "
                    + cause.getMessage(), cause);
        }
        return c;
    }

    /** The address the ROUTER socket is bound at, with the real port: this engine's {@code zmq_address}. */
    public String address() {
        return bound.join();
    }

    /**
     * Connects a DEALER socket to the peer and starts pinging it; the peer counts as alive until
     * {@code deadAfter} passes without hearing from it. Replaces an earlier connection with the same id.
     *
     * @throws InvalidEndpointInfoException when {@code zmqAddress} is not {@code tcp://host:port}
     */
    public void connect(String peerId, String zmqAddress) {
        checkAddress(zmqAddress);
        connected.add(peerId);
        alive.add(peerId);
        submit(() -> {
            addresses.put(peerId, zmqAddress);
            redialAt.remove(peerId);
            dial(peerId);
            liveness.add(peerId, clock.getAsLong());
        });
    }

    /** Closes the DEALER to the peer and stops tracking it. No-op for an unknown peer. */
    public void disconnect(String peerId) {
        connected.remove(peerId);
        alive.remove(peerId);
        submit(() -> {
            ZMQ.Socket d = dealers.remove(peerId);
            if (d != null) {
                d.close();
                pollerDirty = true;
            }
            addresses.remove(peerId);
            redialAt.remove(peerId);
            liveness.remove(peerId);
        });
    }

    /** Whether the peer is connected and has been heard from within {@code deadAfter}. */
    public boolean isAlive(String peerId) {
        return alive.contains(peerId);
    }

    /**
     * Queues a FreeCache notice to the peer (delivered once its socket is connected, even after a brief outage).
     *
     * @throws PeerUnavailableException when the peer is not connected
     */
    public void sendFreeCache(String peerId, long sessionId) {
        if (!connected.contains(peerId)) {
            throw new PeerUnavailableException(peerId, "not connected on the control channel");
        }
        byte[] frame = message().setFreeCache(FreeCache.newBuilder().setSessionId(sessionId)).build().toByteArray();
        submit(() -> {
            ZMQ.Socket d = dealers.get(peerId);
            if (d != null && !d.send(frame, ZMQ.DONTWAIT)) {
                LOG.log(System.Logger.Level.WARNING, "FreeCache for session " + sessionId + " to " + peerId
                        + " dropped: send queue full");
            }
        });
    }

    @Override
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        commands.add(() -> running = false);
        wake();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        callbacks.shutdown();
        try {
            wakeup.sink().close();
            wakeup.source().close();
        } catch (IOException ignored) {
            // nothing left to release
        }
    }

    /** Throws {@link InvalidEndpointInfoException} unless {@code zmqAddress} is {@code tcp://host:port}. */
    public static void checkAddress(String zmqAddress) {
        if (zmqAddress == null || !ADDRESS.matcher(zmqAddress).matches()) {
            throw new InvalidEndpointInfoException("zmq_address: " + abbreviate(zmqAddress)
                    + " (expected: tcp://host:port)");
        }
        int port = Integer.parseInt(zmqAddress.substring(zmqAddress.lastIndexOf(':') + 1));
        if (port < 1 || port > 65535) {
            throw new InvalidEndpointInfoException("zmq_address: port " + port + " (expected: 1..65535)");
        }
    }

    private static String abbreviate(String s) {
        return s == null ? "null" : s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    private ControlMessage.Builder message() {
        return ControlMessage.newBuilder().setSenderEngineId(engineId);
    }

    private void submit(Runnable command) {
        if (closing) {
            throw new KvTransferException("control channel of " + engineId + " is closed");
        }
        commands.add(command);
        wake();
    }

    private void wake() {
        try {
            wakeup.sink().write(ByteBuffer.wrap(new byte[] {1}));
        } catch (IOException e) {
            // closed, or the pipe is full, which already means a wake-up is pending
        }
    }

    // ---- control thread -------------------------------------------------------------------------------------

    private ZContext context;
    private ZMQ.Socket router;
    private ZMQ.Poller poller;
    private boolean pollerDirty = true;

    private void run(String bindAddress) {
        try {
            context = new ZContext(1);
            router = context.createSocket(SocketType.ROUTER);
            router.setLinger(0);
            router.bind(bindAddress);
            bound.complete(router.getLastEndpoint());
        } catch (RuntimeException e) {
            bound.completeExceptionally(e);
            if (context != null) {
                context.close();
            }
            return;
        }
        long nextPing = clock.getAsLong();
        ByteBuffer drain = ByteBuffer.allocate(64);
        try {
            while (running) {
                long now = clock.getAsLong();
                if (now - nextPing >= 0) {
                    pingAll(now);
                    nextPing = now + pingIntervalNanos;
                }
                if (pollerDirty) { // after pingAll, which may replace a DEALER
                    rebuildPoller();
                }
                long waitMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextPing - now));
                poller.poll(waitMillis);
                if (poller.pollin(1)) {
                    drain.clear();
                    while (wakeup.source().read(drain) > 0) {
                        drain.clear();
                    }
                }
                Runnable c;
                while ((c = commands.poll()) != null) {
                    c.run();
                }
                receiveRouter();
                for (var e : dealers.entrySet()) {
                    receiveDealer(e.getKey(), e.getValue());
                }
            }
        } catch (IOException | RuntimeException e) {
            if (running) {
                LOG.log(System.Logger.Level.ERROR, "control thread of " + engineId + " died", e);
            }
        } finally {
            if (poller != null) {
                poller.close();
            }
            context.close();
        }
    }

    private void rebuildPoller() throws IOException {
        if (poller != null) {
            poller.close();
        }
        poller = context.createPoller(2 + dealers.size());
        poller.register(router, ZMQ.Poller.POLLIN);          // index 0
        poller.register(wakeup.source(), ZMQ.Poller.POLLIN); // index 1
        for (ZMQ.Socket d : dealers.values()) {
            poller.register(d, ZMQ.Poller.POLLIN);
        }
        pollerDirty = false;
    }

    /** Replaces the peer's DEALER (if any) with a new one connected to its address. Control thread only. */
    private void dial(String peerId) {
        ZMQ.Socket old = dealers.remove(peerId);
        if (old != null) {
            old.close();
        }
        ZMQ.Socket d = context.createSocket(SocketType.DEALER);
        d.setLinger(0);
        d.setSndHWM(1000);
        d.setReconnectIVL(100);
        d.setReconnectIVLMax(1000);
        d.connect(addresses.get(peerId));
        dealers.put(peerId, d);
        pollerDirty = true;
    }

    private void pingAll(long now) {
        pingSeq++;
        byte[] ping = message().setPing(Ping.newBuilder().setSeq(pingSeq)).build().toByteArray();
        for (ZMQ.Socket d : dealers.values()) {
            d.send(ping, ZMQ.DONTWAIT); // a full queue means the peer is away; liveness notices
        }
        for (String dead : liveness.newlyDead(now)) {
            alive.remove(dead);
            LOG.log(System.Logger.Level.WARNING, engineId + ": peer " + dead + " is not answering pings");
            callbacks.execute(() -> listener.onPeerDead(dead));
            redialAt.put(dead, now);
        }
        for (var e : redialAt.entrySet()) {
            String peer = e.getKey();
            if (liveness.isAlive(peer)) {
                continue; // heard again; the entry goes below
            }
            if (now - e.getValue() >= 0) {
                dial(peer);
                e.setValue(now + liveness.deadAfterNanos());
            }
        }
        redialAt.keySet().removeIf(liveness::isAlive);
    }

    private void receiveRouter() {
        byte[] identity;
        while ((identity = router.recv(ZMQ.DONTWAIT)) != null) {
            if (!router.hasReceiveMore()) {
                continue;
            }
            byte[] frame = router.recv(ZMQ.DONTWAIT);
            while (router.hasReceiveMore()) {
                router.recv(ZMQ.DONTWAIT); // extra frames are not part of the protocol
            }
            ControlMessage m = parse(frame);
            if (m == null) {
                continue;
            }
            heard(m.getSenderEngineId());
            switch (m.getBodyCase()) {
                case PING -> {
                    router.sendMore(identity);
                    router.send(message().setPong(Pong.newBuilder().setSeq(m.getPing().getSeq())).build()
                            .toByteArray(), ZMQ.DONTWAIT);
                }
                case FREE_CACHE -> {
                    String from = m.getSenderEngineId();
                    long session = m.getFreeCache().getSessionId();
                    if (!liveness.contains(from)) {
                        LOG.log(System.Logger.Level.WARNING, engineId + ": FreeCache from " + abbreviate(from)
                                + ", which is not a connected peer, dropped");
                    } else {
                        callbacks.execute(() -> listener.onFreeCache(from, session));
                    }
                }
                default -> {
                    // pongs come back on DEALER sockets; anything else is ignored
                }
            }
        }
    }

    private void receiveDealer(String peerId, ZMQ.Socket d) {
        byte[] frame;
        while ((frame = d.recv(ZMQ.DONTWAIT)) != null) {
            ControlMessage m = parse(frame);
            if (m != null && m.hasPong()) {
                heard(peerId);
            }
        }
    }

    private void heard(String peerId) {
        if (liveness.heard(peerId, clock.getAsLong())) {
            alive.add(peerId);
            LOG.log(System.Logger.Level.INFO, engineId + ": peer " + peerId + " is answering again");
            callbacks.execute(() -> listener.onPeerAlive(peerId));
        }
    }

    private ControlMessage parse(byte[] frame) {
        if (frame == null || frame.length > MAX_FRAME) {
            return null;
        }
        try {
            return ControlMessage.parseFrom(frame);
        } catch (InvalidProtocolBufferException e) {
            LOG.log(System.Logger.Level.WARNING, engineId + ": malformed control frame dropped");
            return null;
        }
    }
}
