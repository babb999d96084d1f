package io.tandem.proxy.upstream;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import org.reactivestreams.Publisher;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import reactor.core.publisher.Operators;

/**
 * The router's HTTP/1.1 client to nodes, on the Netty event loop of the client connection it serves: the upstream
 * call is made, read and answered on that one thread, with no hand-off to a client thread and back.
 *
 * <p><b>Connections.</b> Keep-alive connections are pooled per (event loop, node), most recently used first; a pool
 * is only ever touched by its event loop, so it needs no lock. At most {@value #MAX_IDLE_PER_NODE} idle connections
 * per pool are kept (nginx's {@code keepalive} has the same role); an answer with {@code Connection: close}, a
 * failed or cancelled call closes its connection. A call on a pooled connection that the node had closed meanwhile
 * (closed before any answer byte) is sent once more on a new connection, so that a stale connection never counts as
 * a node failure. Host names are resolved on a virtual thread (never on the event loop); IP literals directly.
 * {@code https} nodes get TLS with the JDK's default trust store.
 *
 * <p><b>Streams.</b> {@link #postStreaming} completes once the status and the first non-empty chunk are in hand
 * (or the body ended): until then nothing has reached the client and the caller may retry elsewhere. The rest is
 * read ahead of the subscriber's demand up to {@value #READ_AHEAD} bytes (plus what one read cycle brings): once
 * that much is held and the demand is used up, the connection stops reading, so a slow client holds the node back
 * through TCP rather than filling the proxy's memory. Turning reads off only then (not after every item) saves two
 * {@code epoll_ctl} calls per stream (docs/benchmarks.md "Proxy"). Cancelling the body closes the connection. The body is a plain
 * Reactive Streams {@link Publisher} kept on the event loop, not a Reactor pipeline (less work per item).
 *
 * <p><b>Failures.</b> A refused or timed-out connect, a broken connection and a malformed answer fail the future
 * (or the body, after its first chunk) with the I/O error; no answer headers within {@code timeout} fail it with
 * {@link HeadersTimeoutException}. Cancelling a returned future closes the connection.
 *
 * <p>Thread-safe: calls may come from any thread (they move to the given event loop).
 */
public final class ForwardClient {
    static final int MAX_IDLE_PER_NODE = 128;
    /** Bytes of a streamed answer read ahead of the subscriber's demand before the connection stops reading. */
    static final int READ_AHEAD = 64 * 1024;

    private final int connectTimeoutMillis;
    private final long timeoutNanos;
    private final Duration timeout;
    private final String authorization;
    private final ConcurrentMap<EventLoop, LoopPool> pools = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Target> targets = new ConcurrentHashMap<>();

    /**
     * @param connectTimeout TCP connect timeout
     * @param timeout        longest wait for answer headers after the request is sent
     * @param bearer         sent as {@code Authorization: Bearer} on every call (the cluster token), if present
     */
    public ForwardClient(Duration connectTimeout, Duration timeout, Optional<String> bearer) {
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("connectTimeout: " + connectTimeout + " (expected: > 0)");
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: " + timeout + " (expected: > 0)");
        }
        this.connectTimeoutMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
        this.timeout = timeout;
        this.timeoutNanos = timeout.toNanos();
        this.authorization = bearer.map(t -> "Bearer " + t).orElse(null);
    }

    /**
     * A streamed answer whose first non-empty chunk (or end) has arrived. {@code body} (subscribe once) starts with
     * that chunk; {@code cancel} gives the body up without reading it and closes the connection.
     */
    public record Streamed(int status, String contentType, Publisher<byte[]> body, Runnable cancel) {}

    /**
     * POSTs a JSON body to {@code nodeUrl + path} on {@code inbound}'s event loop and reads the whole answer.
     *
     * @param inbound the client connection this call serves: its event loop does the I/O
     */
    public CompletableFuture<Buffered> post(Channel inbound, String nodeUrl, String path, byte[] json) {
        BufferedCall call = new BufferedCall();
        start(inbound, nodeUrl, path, json, call);
        return call.result;
    }

    /** POSTs a JSON body; completes when the status and the first non-empty chunk are in hand (see the class). */
    public CompletableFuture<Streamed> postStreaming(Channel inbound, String nodeUrl, String path, byte[] json) {
        StreamCall call = new StreamCall();
        start(inbound, nodeUrl, path, json, call);
        return call.ready;
    }

    /**
     * The node left the pool: closes its idle connections on every event loop and forgets its parsed url. Calls in
     * progress on it are not touched (they end as the node answers or goes away). Any thread.
     */
    public void closeIdle(String nodeUrl) {
        Target target = targets.remove(nodeUrl);
        String key;
        try {
            key = target != null ? target.key : Target.parse(nodeUrl).key;
        } catch (IllegalArgumentException e) {
            return; // never a node of ours
        }
        pools.values().forEach(p -> p.loop.execute(() -> p.closeIdle(key)));
    }

    private void start(Channel inbound, String nodeUrl, String path, byte[] json, Exchange call) {
        Target target;
        try {
            target = targets.computeIfAbsent(nodeUrl, Target::parse);
        } catch (IllegalArgumentException e) {
            call.failed(e);
            return;
        }
        LoopPool pool = pools.computeIfAbsent(inbound.eventLoop(), loop -> new LoopPool(loop, socketClass(inbound)));
        call.init(pool, target, path, json);
        if (pool.loop.inEventLoop()) {
            pool.send(call, true);
        } else {
            pool.loop.execute(() -> pool.send(call, true));
        }
    }

    private FullHttpRequest request(Target target, String path, byte[] json) {
        FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, target.basePath + path,
                Unpooled.wrappedBuffer(json));
        req.headers().set(HttpHeaderNames.HOST, target.hostHeader)
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, json.length);
        if (authorization != null) {
            req.headers().set(HttpHeaderNames.AUTHORIZATION, authorization);
        }
        return req;
    }

    /** Connections to nodes have the transport of the server's own: the socket class of the client connection. */
    private static Class<? extends Channel> socketClass(Channel inbound) {
        for (Channel c = inbound; c != null; c = c.parent()) {
            if (c instanceof SocketChannel) {
                return c.getClass();
            }
        }
        return NioSocketChannel.class;
    }

    /** A node's address, parsed once. */
    private record Target(String key, boolean tls, String host, int port, String hostHeader, String basePath) {
        static Target parse(String nodeUrl) {
            URI u = URI.create(nodeUrl);
            boolean tls = "https".equalsIgnoreCase(u.getScheme());
            if (!tls && !"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
                throw new IllegalArgumentException("nodeUrl: " + nodeUrl + " (expected: http[s]://host[:port])");
            }
            int port = u.getPort() != -1 ? u.getPort() : tls ? 443 : 80;
            String base = u.getRawPath() == null ? "" : u.getRawPath();
            if (base.endsWith("/")) {
                base = base.substring(0, base.length() - 1);
            }
            String host = u.getHost(); // an IPv6 literal keeps its brackets here and in the Host header
            String address = host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
            return new Target((tls ? "https://" : "http://") + host + ":" + port, tls, address, port,
                    u.getPort() == -1 ? host : host + ":" + port, base);
        }
    }

    /** TLS to https nodes, with the JDK's default trust store (as the JDK HttpClient has it). Made on first use. */
    private static final class Tls {
        static final SslContext CONTEXT;

        static {
            try {
                CONTEXT = SslContextBuilder.forClient().build();
            } catch (SSLException e) {
                throw new ExceptionInInitializerError(e);
            }
        }
    }

    // ------------------------------------------------------------------ pool (one per event loop)

    /** The idle connections of one event loop, by node. Only its event loop touches it. */
    private final class LoopPool {
        final EventLoop loop;
        final Bootstrap bootstrap;
        final Map<String, ArrayDeque<Channel>> idle = new HashMap<>();

        LoopPool(EventLoop loop, Class<? extends Channel> socketClass) {
            this.loop = loop;
            this.bootstrap = new Bootstrap().group(loop).channelFactory(new ReflectiveChannelFactory<>(socketClass))
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, connectTimeoutMillis)
                    .option(ChannelOption.TCP_NODELAY, true);
        }

        /** Sends {@code call} on an idle connection to its node, or a new one. On the event loop. */
        void send(Exchange call, boolean mayReuse) {
            if (call.done) {
                return;
            }
            ArrayDeque<Channel> q = mayReuse ? idle.get(call.target.key) : null;
            Channel ch;
            while (q != null && (ch = q.pollFirst()) != null) {
                if (ch.isActive()) {
                    call.send(ch, true);
                    return;
                }
            }
            Target t = call.target;
            if (NetUtil.isValidIpV4Address(t.host) || NetUtil.isValidIpV6Address(t.host)) {
                connect(call, new InetSocketAddress(NetUtil.createInetAddressFromIpAddressString(t.host), t.port));
                return;
            }
            Thread.ofVirtual().name("resolve-" + t.host).start(() -> {
                InetSocketAddress address;
                try {
                    address = new InetSocketAddress(InetAddress.getByName(t.host), t.port);
                } catch (UnknownHostException e) {
                    loop.execute(() -> call.fail(e));
                    return;
                }
                loop.execute(() -> connect(call, address));
            });
        }

        private void connect(Exchange call, InetSocketAddress address) {
            if (call.done) {
                return;
            }
            Target t = call.target;
            bootstrap.clone().handler(new ChannelInitializer<>() {
                @Override
                protected void initChannel(Channel ch) {
                    if (t.tls) {
                        SslHandler tls = Tls.CONTEXT.newHandler(ch.alloc(), t.host, t.port);
                        SSLParameters params = tls.engine().getSSLParameters();
                        params.setEndpointIdentificationAlgorithm("HTTPS"); // check the host name, as the JDK client
                        tls.engine().setSSLParameters(params);
                        ch.pipeline().addLast(tls);
                    }
                    ch.pipeline().addLast(new HttpClientCodec(), new Connection(LoopPool.this));
                }
            }).connect(address).addListener(f -> {
                Channel ch = ((io.netty.channel.ChannelFuture) f).channel();
                if (!f.isSuccess()) {
                    call.fail(f.cause());
                } else if (call.done) {
                    release(call.target.key, ch); // cancelled while connecting: the fresh connection is still good
                } else {
                    call.send(ch, false);
                }
            });
        }

        void release(String key, Channel ch) {
            ArrayDeque<Channel> q = idle.computeIfAbsent(key, k -> new ArrayDeque<>());
            if (!ch.isActive() || q.size() >= MAX_IDLE_PER_NODE) {
                ch.close();
                return;
            }
            ch.config().setAutoRead(true); // an idle connection must still notice the node closing it
            q.addFirst(ch);
        }

        void closeIdle(String key) {
            ArrayDeque<Channel> q = idle.remove(key);
            if (q != null) {
                q.forEach(Channel::close);
            }
        }

        void forget(String key, Channel ch) {
            ArrayDeque<Channel> q = idle.get(key);
            if (q != null) {
                q.remove(ch);
            }
        }
    }

    /** The handler of one connection: hands what it reads to the exchange in progress. On its event loop. */
    private static final class Connection extends ChannelInboundHandlerAdapter {
        private final LoopPool pool;
        private Exchange current;
        private String key;
        private boolean keepAlive;

        Connection(LoopPool pool) {
            this.pool = pool;
        }

        void begin(Exchange call) {
            current = call;
            key = call.target.key;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                Exchange call = current;
                if (call == null) {
                    ctx.close(); // bytes nobody asked for: the connection is out of step
                    return;
                }
                if (msg instanceof HttpResponse r) {
                    if (r.decoderResult().isFailure()) {
                        fail(ctx, r.decoderResult().cause());
                        return;
                    }
                    keepAlive = HttpUtil.isKeepAlive(r);
                    call.headers(r);
                }
                if (msg instanceof HttpContent c) {
                    if (c.decoderResult().isFailure()) {
                        fail(ctx, c.decoderResult().cause());
                        return;
                    }
                    boolean last = c instanceof LastHttpContent;
                    if (last) {
                        current = null;
                        if (keepAlive && !call.done) {
                            pool.release(key, ctx.channel());
                        } else {
                            ctx.close();
                        }
                    }
                    call.content(c.content(), last);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            Exchange call = current;
            if (call != null) {
                call.readComplete();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            pool.forget(key, ctx.channel());
            Exchange call = current;
            current = null;
            if (call != null) {
                call.closed();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx, cause);
        }

        private void fail(ChannelHandlerContext ctx, Throwable cause) {
            Exchange call = current;
            current = null;
            ctx.close();
            if (call != null) {
                call.fail(cause);
            }
        }
    }

    // ------------------------------------------------------------------ one call

    /** One request and its answer. Its state is touched only on its event loop, except {@link #cancel}. */
    private abstract class Exchange {
        LoopPool pool;
        Target target;
        String path;
        byte[] json;
        Channel channel;
        boolean reused;
        boolean gotHeaders;
        int status;
        String contentType;
        volatile boolean done;
        private ScheduledFuture<?> headersTimer;

        final void init(LoopPool pool, Target target, String path, byte[] json) {
            this.pool = pool;
            this.target = target;
            this.path = path;
            this.json = json;
        }

        final void send(Channel ch, boolean reused) {
            this.channel = ch;
            this.reused = reused;
            ch.pipeline().get(Connection.class).begin(this);
            ch.writeAndFlush(request(target, path, json)).addListener(f -> {
                if (!f.isSuccess()) {
                    ch.close();
                }
            });
            headersTimer = pool.loop.schedule(() -> fail(new HeadersTimeoutException(
                    target.key + " sent no answer within " + timeout)), timeoutNanos, TimeUnit.NANOSECONDS);
        }

        final void headers(HttpResponse r) {
            gotHeaders = true;
            headersTimer.cancel(false);
            status = r.status().code();
            String ct = r.headers().get(HttpHeaderNames.CONTENT_TYPE);
            contentType = ct == null ? "application/json" : ct;
        }

        /** The connection closed before the answer ended. */
        final void closed() {
            if (done) {
                return;
            }
            if (reused && !gotHeaders) {
                reused = false;
                cancelTimer();
                pool.send(this, false); // the node had closed this idle connection: once more on a new one
                return;
            }
            fail(new ClosedChannelException());
        }

        final void fail(Throwable cause) {
            if (done) {
                return;
            }
            done = true;
            cancelTimer();
            if (channel != null) {
                channel.close();
            }
            failed(cause instanceof ClosedChannelException
                    ? new IOException("connection to " + target.key + " closed before the answer ended") : cause);
        }

        /** Gives the call up (any thread): closes its connection. */
        final void cancel() {
            if (done) {
                return;
            }
            pool.loop.execute(() -> {
                if (!done) {
                    done = true;
                    cancelTimer();
                    if (channel != null) {
                        channel.close();
                    }
                }
            });
        }

        /** The answer ended. */
        final void finish() {
            done = true;
            cancelTimer();
        }

        private void cancelTimer() {
            if (headersTimer != null) {
                headersTimer.cancel(false);
            }
        }

        abstract void content(ByteBuf chunk, boolean last);

        void readComplete() {}

        abstract void failed(Throwable cause);

        /** {@code f}, which cancels this call when it is cancelled. */
        final <T> CompletableFuture<T> cancelledBy(CompletableFuture<T> f) {
            f.whenComplete((r, e) -> {
                if (e instanceof CancellationException) {
                    cancel();
                }
            });
            return f;
        }
    }

    private final class BufferedCall extends Exchange {
        final CompletableFuture<Buffered> result = cancelledBy(new CompletableFuture<>());
        private byte[] body = new byte[0];
        private int size;

        @Override
        void content(ByteBuf chunk, boolean last) {
            int n = chunk.readableBytes();
            if (size + n > body.length) {
                body = Arrays.copyOf(body, Math.max(size + n, body.length * 2));
            }
            chunk.readBytes(body, size, n);
            size += n;
            if (last) {
                finish();
                result.complete(new Buffered(status, contentType,
                        size == body.length ? body : Arrays.copyOf(body, size)));
            }
        }

        @Override
        void failed(Throwable cause) {
            result.completeExceptionally(cause);
        }
    }

    /**
     * A streamed answer, and the {@link Publisher} of its body (one subscriber). Not a Reactor pipeline: the
     * subscriber's demand, the chunks read beyond it, and the end or failure live here, on the connection's event
     * loop, so that each item costs one {@code onNext} call and no operator objects per request.
     */
    private final class StreamCall extends Exchange implements Publisher<byte[]> {
        final CompletableFuture<Streamed> ready = cancelledBy(new CompletableFuture<>());
        /** Items not yet passed on: the first chunk, and reads the subscriber had no demand for. */
        private final ArrayDeque<byte[]> queue = new ArrayDeque<>(2);
        /**
         * Chunks of the current read, passed on as one item at the read's end ({@link #readComplete}): a node's
         * SSE events often arrive several to a read, and each item costs a trip to the client's connection and a
         * flush (a write system call) towards the client. Nothing waits longer than the read it came in.
         */
        private final ArrayList<byte[]> batch = new ArrayList<>(8);
        private int batchBytes;
        /** Bytes read from the node and not yet passed on (queue and batch): the read-ahead. */
        private long heldBytes;
        private Subscriber<? super byte[]> subscriber;
        private long demand;
        private boolean ended;
        private Throwable error;
        /** The subscriber has had its terminal signal, or cancelled. */
        private boolean terminated;
        private boolean draining;
        private boolean subscribed;

        @Override
        void content(ByteBuf chunk, boolean last) {
            if (last) {
                finish();
            }
            int n = chunk.readableBytes();
            if (!ready.isDone()) {
                if (n == 0 && !last) {
                    return;
                }
                if (n > 0) {
                    byte[] first = new byte[n];
                    chunk.readBytes(first);
                    queue.add(first);
                    heldBytes += n;
                }
                ended = last;
                // The connection keeps reading (up to READ_AHEAD, see readComplete): the subscriber normally arrives
                // within this same read, and turning reads off and on again cost two epoll_ctl calls per stream.
                ready.complete(new Streamed(status, contentType, this, this::cancel));
                return;
            }
            if (n > 0) {
                byte[] bytes = new byte[n];
                chunk.readBytes(bytes);
                batch.add(bytes);
                batchBytes += n;
                heldBytes += n;
            }
            if (last) {
                ended = true;
                endBatch();
                drain();
            }
        }

        @Override
        void readComplete() {
            endBatch();
            drain();
            if (!terminated && !ended && demand == 0 && heldBytes >= READ_AHEAD && channel != null) {
                channel.config().setAutoRead(false); // the client is behind: the node waits (TCP backpressure)
            }
        }

        private void endBatch() {
            if (batch.isEmpty()) {
                return;
            }
            byte[] out;
            if (batch.size() == 1) {
                out = batch.getFirst();
            } else {
                out = new byte[batchBytes];
                int at = 0;
                for (byte[] b : batch) {
                    System.arraycopy(b, 0, out, at, b.length);
                    at += b.length;
                }
            }
            batch.clear();
            batchBytes = 0;
            queue.add(out);
        }

        /** Passes on what the demand allows, then the end or the failure once nothing is queued. On the loop. */
        private void drain() {
            if (subscriber == null || draining) {
                return;
            }
            draining = true;
            try {
                while (!terminated && demand > 0 && !queue.isEmpty()) {
                    demand--;
                    byte[] item = queue.poll();
                    heldBytes -= item.length;
                    subscriber.onNext(item);
                }
                if (!terminated && queue.isEmpty() && (ended || error != null)) {
                    terminated = true;
                    if (error != null) {
                        subscriber.onError(error);
                    } else {
                        subscriber.onComplete();
                    }
                }
            } finally {
                draining = false;
            }
        }

        @Override
        public void subscribe(Subscriber<? super byte[]> s) {
            synchronized (this) {
                if (subscribed) {
                    Operators.error(s, new IllegalStateException("a node's streamed body has one subscriber"));
                    return;
                }
                subscribed = true;
            }
            onLoop(() -> {
                subscriber = s;
                s.onSubscribe(new Demand());
                drain();
            });
        }

        /** The subscriber's side: demand and cancel, from any thread. */
        private final class Demand implements Subscription {
            @Override
            public void request(long n) {
                onLoop(() -> {
                    if (terminated) {
                        return;
                    }
                    if (n <= 0) {
                        terminated = true;
                        StreamCall.this.cancel();
                        subscriber.onError(new IllegalArgumentException("request: " + n + " (expected: > 0)"));
                        return;
                    }
                    demand = demand + n < 0 ? Long.MAX_VALUE : demand + n;
                    drain();
                    if (!terminated && !ended && demand > 0 && channel != null) {
                        channel.config().setAutoRead(true);
                    }
                });
            }

            @Override
            public void cancel() {
                onLoop(() -> {
                    if (!terminated) {
                        terminated = true;
                        queue.clear();
                        heldBytes = 0;
                        StreamCall.this.cancel();
                    }
                });
            }
        }

        private void onLoop(Runnable r) {
            if (pool.loop.inEventLoop()) {
                r.run();
            } else {
                pool.loop.execute(r);
            }
        }

        @Override
        void failed(Throwable cause) {
            if (!ready.isDone()) {
                ready.completeExceptionally(cause);
                return;
            }
            endBatch();
            error = cause;
            drain();
        }
    }
}
