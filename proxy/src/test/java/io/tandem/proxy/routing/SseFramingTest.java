package io.tandem.proxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

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
    void rest_isThePartialEventHeldBack() {
        SseFraming f = new SseFraming();
        f.feed(b("data: 1\n\ndata: 2"));
        assertThat(new String(f.rest(), StandardCharsets.UTF_8)).isEqualTo("data: 2");
    }

    private static SseFraming newFraming() {
        return new SseFraming();
    }
}
