package io.tandem.proxy.routing;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

import org.reactivestreams.Publisher;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import reactor.core.publisher.Operators;

/**
 * A node's streamed answer on its way to the client, after its first chunk: passes the node's items on, cut at
 * event boundaries for server-sent events ({@link SseFraming}), turns a failure of the node into an error event
 * and {@code [DONE]} (SSE; other streams fail), and settles the request once - the node's part when the body ends,
 * breaks or the client cancels, then {@code onFinally} - all in one Reactive Streams processor.
 *
 * <p>Why not Reactor operators: they were the streams' largest share of the proxy's work per request after the
 * HTTP codecs (five to six operators, each with its own subscriber, queue or fusion objects per request). Here one
 * object per subscription does all of it.
 *
 * <p>One subscriber ({@link #subscribe}, or {@link #byteBufs()} for Netty), which may call {@link Subscription}
 * methods from any thread; the node's side signals on its connection's event loop. The only state the two touch
 * together is the demand and a final item held back for lack of it (under the subscription's lock).
 */
public final class StreamRelay implements Publisher<byte[]> {
    /** What happens to the request as its body ends; each at most once, and only one of the three. */
    interface Listener {
        /** The node's stream broke after its first byte. */
        void broken(Throwable error);

        /** The node's stream ended. */
        void ended();

        /** The client went away before the end. */
        void cancelled();
    }

    private final Publisher<byte[]> upstream;
    private final boolean sse;
    private final Function<Throwable, byte[]> errorEvent;
    private final Listener listener;
    private final AtomicBoolean subscribed = new AtomicBoolean();
    private volatile Runnable onFinally = () -> { };

    /**
     * @param sse        whether the body is {@code text/event-stream}: cut at event boundaries, a failure becomes
     *                   {@code errorEvent}'s bytes and the end
     * @param errorEvent the bytes that end a broken SSE stream
     */
    StreamRelay(Publisher<byte[]> upstream, boolean sse, Function<Throwable, byte[]> errorEvent, Listener listener) {
        this.upstream = upstream;
        this.sse = sse;
        this.errorEvent = errorEvent;
        this.listener = listener;
    }

    /** Runs after the body's end, failure or cancel, after the listener (set before subscribing). */
    StreamRelay onFinally(Runnable r) {
        this.onFinally = r;
        return this;
    }

    @Override
    public void subscribe(Subscriber<? super byte[]> s) {
        subscribe(s, Function.identity());
    }

    /** The body as Netty buffers (wrapping the same bytes), for a Netty channel. */
    public Publisher<ByteBuf> byteBufs() {
        return s -> subscribe(s, Unpooled::wrappedBuffer);
    }

    private <T> void subscribe(Subscriber<? super T> s, Function<byte[], T> wrap) {
        if (!subscribed.compareAndSet(false, true)) {
            Operators.error(s, new IllegalStateException("a streamed answer has one subscriber"));
            return;
        }
        upstream.subscribe(new Relay<>(s, wrap));
    }

    private final class Relay<T> implements Subscriber<byte[]>, Subscription {
        private final Subscriber<? super T> downstream;
        private final Function<byte[], T> wrap;
        private final SseFraming framing = sse ? new SseFraming() : null;
        private final AtomicBoolean settled = new AtomicBoolean();
        /** Requested by the client and not yet answered with an item. */
        private final AtomicLong outstanding = new AtomicLong();
        private final AtomicBoolean closed = new AtomicBoolean();
        private volatile boolean cancelled;
        private Subscription up;
        // @GuardedBy("this"): the last item (held back for want of demand), then the end
        private byte[] last;
        private boolean lastPending;
        private boolean finished;

        Relay(Subscriber<? super T> downstream, Function<byte[], T> wrap) {
            this.downstream = downstream;
            this.wrap = wrap;
        }

        @Override
        public void onSubscribe(Subscription s) {
            up = s;
            downstream.onSubscribe(this);
        }

        @Override
        public void onNext(byte[] chunk) {
            if (cancelled) {
                return;
            }
            byte[] out = framing == null ? chunk : framing.feed(chunk);
            if (out.length == 0) {
                up.request(1); // nothing whole yet: the client's demand is still open
                return;
            }
            outstanding.decrementAndGet();
            downstream.onNext(wrap.apply(out));
        }

        @Override
        public void onComplete() {
            settle(0, null);
            finish(framing != null ? framing.rest() : null, null);
        }

        @Override
        public void onError(Throwable e) {
            settle(1, e);
            if (framing != null) {
                finish(errorEvent.apply(e), null); // the partial event is dropped: never half a line to the client
            } else {
                finish(null, e);
            }
        }

        @Override
        public void request(long n) {
            if (n <= 0) {
                cancel();
                downstream.onError(new IllegalArgumentException("request: " + n + " (expected: > 0)"));
                return;
            }
            outstanding.getAndUpdate(o -> o + n < 0 ? Long.MAX_VALUE : o + n);
            byte[] item = null;
            synchronized (this) {
                if (lastPending) {
                    item = last;
                    lastPending = false;
                    last = null;
                }
            }
            if (item != null) {
                outstanding.decrementAndGet();
                downstream.onNext(wrap.apply(item));
                downstream.onComplete();
                close();
                return;
            }
            if (!isFinished()) {
                up.request(n);
            }
        }

        @Override
        public void cancel() {
            cancelled = true;
            synchronized (this) {
                lastPending = false;
                last = null;
                finished = true;
            }
            up.cancel();
            settle(2, null);
            close();
        }

        /** After the client's end or cancel: {@code onFinally}, once. */
        private void close() {
            if (closed.compareAndSet(false, true)) {
                onFinally.run();
            }
        }

        /** Ends the client's body: {@code item} first (when there is demand for it, else on the next request). */
        private void finish(byte[] item, Throwable error) {
            boolean now;
            synchronized (this) {
                if (finished) {
                    return; // cancelled
                }
                finished = true;
                now = item == null || item.length == 0 || outstanding.get() > 0;
                if (!now) {
                    last = item;
                    lastPending = true;
                }
            }
            if (!now) {
                return;
            }
            if (item != null && item.length > 0) {
                outstanding.decrementAndGet();
                downstream.onNext(wrap.apply(item));
            }
            if (error != null) {
                downstream.onError(error);
            } else {
                downstream.onComplete();
            }
            close();
        }

        private synchronized boolean isFinished() {
            return finished;
        }

        /** 0 ended, 1 broken, 2 cancelled: the first call tells the listener, later ones nothing. */
        private void settle(int how, Throwable error) {
            if (!settled.compareAndSet(false, true)) {
                return;
            }
            switch (how) {
                case 0 -> listener.ended();
                case 1 -> listener.broken(error);
                default -> listener.cancelled();
            }
        }
    }
}
