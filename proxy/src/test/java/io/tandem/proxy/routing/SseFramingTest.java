package io.tandem.proxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

import reactor.core.publisher.Flux;

class SseFramingTest {
    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void forwardsWholeEvents_holdsThePartialTail() {
        SseFraming f = newFraming();
        assertThat(new String(f.feed(b("data: 1\n\ndata: 2")), StandardCharsets.UTF_8)).isEqualTo("data: 1\n\n");
        assertThat(new String(f.feed(b("2\n\n")), StandardCharsets.UTF_8)).isEqualTo("data: 22\n\n");
    }

    @Test
    void errorMidEvent_dropsThePartialEvent_thenErrorEvent() {
        Flux<byte[]> in = Flux.just(b("data: a\n\n"), b("data: {\"half"))
                .concatWith(Flux.error(new IOException("reset")));
        String out = String.join("|", SseFraming.frame(in, e -> b("data: {\"error\":\"x\"}\n\n"))
                .map(x -> new String(x, StandardCharsets.UTF_8)).collectList().block());
        assertThat(out).isEqualTo("data: a\n\n|data: {\"error\":\"x\"}\n\n");
    }

    private static SseFraming newFraming() {
        try {
            var c = SseFraming.class.getDeclaredConstructor();
            c.setAccessible(true);
            return c.newInstance();
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
