package io.tandem.proxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;

import io.netty.buffer.ByteBuf;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

class StreamRelayTest {
    private final List<String> settled = new ArrayList<>();
    private final AtomicInteger finallies = new AtomicInteger();

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private StreamRelay relay(Flux<byte[]> node, boolean sse) {
        return new StreamRelay(node, sse, e -> b("data: {\"error\":\"" + e.getMessage() + "\"}\n\ndata: [DONE]\n\n"),
                new StreamRelay.Listener() {
                    @Override
                    public void broken(Throwable error) {
                        settled.add("broken: " + error.getMessage());
                    }

                    @Override
                    public void ended() {
                        settled.add("ended");
                    }

                    @Override
                    public void cancelled() {
                        settled.add("cancelled");
                    }
                }).onFinally(finallies::incrementAndGet);
    }

    /** A subscriber that requests {@code initial} and records what it gets. */
    private static final class Recorder implements Subscriber<byte[]> {
        final List<String> items = new ArrayList<>();
        String end;
        Subscription subscription;
        final long initial;

        Recorder(long initial) {
            this.initial = initial;
        }

        @Override
        public void onSubscribe(Subscription s) {
            subscription = s;
            if (initial > 0) {
                s.request(initial);
            }
        }

        @Override
        public void onNext(byte[] item) {
            items.add(new String(item, StandardCharsets.UTF_8));
        }

        @Override
        public void onError(Throwable t) {
            end = "error: " + t.getMessage();
        }

        @Override
        public void onComplete() {
            end = "complete";
        }
    }

    @Test
    void sse_cutAtEventBoundaries_theLastPartialEventAtTheEnd() {
        Recorder r = new Recorder(Long.MAX_VALUE);
        relay(Flux.just(b("data: 1\n\ndata: "), b("2\n\ndata: 3\n"), b("\n"), b("data: 4")), true).subscribe(r);
        assertThat(r.items).containsExactly("data: 1\n\n", "data: 2\n\n", "data: 3\n\n", "data: 4");
        assertThat(r.end).isEqualTo("complete");
        assertThat(settled).containsExactly("ended");
        assertThat(finallies).hasValue(1);
    }

    @Test
    void sse_nodeFailsMidEvent_partialEventDropped_thenErrorEventAndDone() {
        Recorder r = new Recorder(Long.MAX_VALUE);
        relay(Flux.just(b("data: a\n\n"), b("data: {\"half")).concatWith(Flux.error(new IOException("reset"))), true)
                .subscribe(r);
        assertThat(r.items).containsExactly("data: a\n\n", "data: {\"error\":\"reset\"}\n\ndata: [DONE]\n\n");
        assertThat(r.end).isEqualTo("complete");
        assertThat(settled).containsExactly("broken: reset");
        assertThat(finallies).hasValue(1);
    }

    @Test
    void notSse_nodeFailure_failsTheBody() {
        Recorder r = new Recorder(Long.MAX_VALUE);
        relay(Flux.just(b("{\"a\":")).concatWith(Flux.error(new IOException("reset"))), false).subscribe(r);
        assertThat(r.items).containsExactly("{\"a\":");
        assertThat(r.end).isEqualTo("error: reset");
        assertThat(settled).containsExactly("broken: reset");
    }

    /** The error event is an item too: with no demand left when the node fails, it waits for the next request. */
    @Test
    void errorEvent_waitsForTheClientsDemand() {
        Recorder r = new Recorder(1);
        Sinks.Many<byte[]> node = Sinks.many().unicast().onBackpressureBuffer();
        relay(node.asFlux(), true).subscribe(r);
        node.tryEmitNext(b("data: a\n\n"));
        node.tryEmitError(new IOException("reset"));
        assertThat(r.items).containsExactly("data: a\n\n");
        assertThat(r.end).isNull();
        assertThat(settled).containsExactly("broken: reset");
        assertThat(finallies).hasValue(0);

        r.subscription.request(1);
        assertThat(r.items).containsExactly("data: a\n\n", "data: {\"error\":\"reset\"}\n\ndata: [DONE]\n\n");
        assertThat(r.end).isEqualTo("complete");
        assertThat(finallies).hasValue(1);
    }

    /** A chunk without a whole event answers none of the client's demand: the relay asks the node for more. */
    @Test
    void chunkWithoutAWholeEvent_asksTheNodeForMore() {
        Recorder r = new Recorder(1);
        relay(Flux.just(b("data: "), b("x"), b("\n\n"), b("data: y\n\n")), true).subscribe(r);
        assertThat(r.items).containsExactly("data: x\n\n");
        assertThat(r.end).isNull();
    }

    @Test
    void clientCancels_cancelsTheNodesBody_settledOnce() {
        AtomicBoolean nodeCancelled = new AtomicBoolean();
        Recorder r = new Recorder(1);
        relay(Flux.just(b("data: 1\n\n"), b("data: 2\n\n")).concatWith(Flux.never())
                .doOnCancel(() -> nodeCancelled.set(true)), true).subscribe(r);
        r.subscription.cancel();
        r.subscription.cancel();
        assertThat(nodeCancelled).isTrue();
        assertThat(settled).containsExactly("cancelled");
        assertThat(finallies).hasValue(1);
    }

    @Test
    void byteBufs_sameBytes_secondSubscriberRefused() {
        StreamRelay relay = relay(Flux.just(b("data: 1\n\n")), true);
        List<String> got = new ArrayList<>();
        Flux.from(relay.byteBufs()).map(ByteBuf::array).map(x -> new String(x, StandardCharsets.UTF_8))
                .subscribe(got::add);
        assertThat(got).containsExactly("data: 1\n\n");
        Recorder second = new Recorder(1);
        relay.subscribe(second);
        assertThat(second.end).startsWith("error: a streamed answer has one subscriber");
    }
}
