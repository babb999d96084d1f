package io.tandem.proxy.upstream;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;
import reactor.core.publisher.Mono;

/**
 * A streamed upstream body whose first non-empty chunk has already arrived. Waiting for it before answering the
 * client is what makes a failure "before the first byte" retryable: until {@link #prime} completes, nothing has
 * been sent and another node can take the request.
 *
 * <p>After the first chunk, the rest is a {@link Flux} driven by the client's demand (no buffering beyond what the
 * client asked for). Each chunk is copied once out of the HttpClient's buffers. Thread-safe; single subscriber.
 */
public final class PrimedBody {
    private final byte[] first;
    private final Flux<byte[]> rest;
    private final Runnable cancel;

    private PrimedBody(byte[] first, Flux<byte[]> rest, Runnable cancel) {
        this.first = first;
        this.rest = rest;
        this.cancel = cancel;
    }

    /** The whole body: the first chunk, then the rest. Subscribe once. */
    public Flux<byte[]> body() {
        return first == null ? rest : Flux.concat(Mono.just(first), rest);
    }

    /** Gives the body up without reading it (closes the upstream connection). */
    public void cancel() {
        cancel.run();
    }

    /**
     * Subscribes to {@code upstream} and completes when its first non-empty chunk arrives (or it ends empty); fails
     * with the upstream's error if it breaks before that.
     */
    public static CompletableFuture<PrimedBody> prime(Flow.Publisher<List<ByteBuffer>> upstream) {
        Bridge bridge = new Bridge();
        upstream.subscribe(bridge);
        return bridge.ready;
    }

    static byte[] bytes(List<ByteBuffer> buffers) {
        int n = 0;
        for (ByteBuffer b : buffers) {
            n += b.remaining();
        }
        byte[] out = new byte[n];
        int at = 0;
        for (ByteBuffer b : buffers) {
            int len = b.remaining();
            b.get(out, at, len);
            at += len;
        }
        return out;
    }

    private static final class Bridge implements Flow.Subscriber<List<ByteBuffer>> {
        final CompletableFuture<PrimedBody> ready = new CompletableFuture<>();
        private final Object lock = new Object();
        private volatile Flow.Subscription subscription;
        /** Set once the rest is subscribed; signals before that are kept in {@code terminal}. */
        // @GuardedBy("lock")
        private FluxSink<byte[]> sink;
        // @GuardedBy("lock")
        private Throwable terminalError;
        // @GuardedBy("lock")
        private boolean terminated;

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(1);
        }

        @Override
        public void onNext(List<ByteBuffer> item) {
            byte[] chunk = bytes(item);
            if (!ready.isDone()) {
                if (chunk.length == 0) {
                    subscription.request(1);
                    return;
                }
                Flux<byte[]> rest = Flux.create(this::attach, FluxSink.OverflowStrategy.BUFFER);
                ready.complete(new PrimedBody(chunk, rest, () -> subscription.cancel()));
                return;
            }
            FluxSink<byte[]> s;
            synchronized (lock) {
                s = sink;
            }
            if (s != null && chunk.length > 0) {
                s.next(chunk);
            } else if (s != null) {
                subscription.request(1); // an empty chunk used up demand the client gave; ask again
            }
        }

        private void attach(FluxSink<byte[]> s) {
            boolean done;
            Throwable error;
            synchronized (lock) {
                sink = s;
                done = terminated;
                error = terminalError;
            }
            s.onCancel(() -> subscription.cancel());
            if (done) {
                if (error != null) {
                    s.error(error);
                } else {
                    s.complete();
                }
                return;
            }
            s.onRequest(n -> subscription.request(n));
        }

        @Override
        public void onError(Throwable t) {
            if (!ready.isDone()) {
                ready.completeExceptionally(t);
                return;
            }
            FluxSink<byte[]> s;
            synchronized (lock) {
                s = sink;
                if (s == null) {
                    terminated = true;
                    terminalError = t;
                    return;
                }
            }
            s.error(t);
        }

        @Override
        public void onComplete() {
            if (!ready.isDone()) {
                ready.complete(new PrimedBody(null, Flux.empty(), () -> { }));
                return;
            }
            FluxSink<byte[]> s;
            synchronized (lock) {
                s = sink;
                if (s == null) {
                    terminated = true;
                    return;
                }
            }
            s.complete();
        }
    }
}
