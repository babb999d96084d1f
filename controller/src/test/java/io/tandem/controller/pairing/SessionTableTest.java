package io.tandem.controller.pairing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.Optional;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.testing.FakeAgent;
import io.tandem.controller.testing.FakeClock;

class SessionTableTest {
    private static final String D = "http://127.0.0.1:9";

    private final FakeClock clock = new FakeClock();
    private final EventLoop loop = new EventLoop("test-events");
    private final HttpClient http = HttpClient.newHttpClient();
    private FakeAgent prefill;
    private SessionTable sessions;

    @BeforeEach
    void start() throws IOException {
        prefill = new FakeAgent();
        sessions = new SessionTable(loop, new HttpDistServeClient(http, Duration.ofSeconds(5), Optional.empty()), clock);
    }

    @AfterEach
    void stop() {
        prefill.close();
        loop.close();
        http.close();
    }

    @Test
    void removedDecode_freesItsSessionsOnThePrefill() {
        sessions.track(7, prefill.url(), D).join();
        sessions.track(8, prefill.url(), "http://127.0.0.1:10").join();
        assertThat(sessions.freeForNode(D).join()).extracting(SessionTable.Session::sessionId).containsExactly(7L);
        var call = prefill.calls("/distserve/free_cache").getFirst().body();
        assertThat(call.get("remote_engine_id").asText()).isEqualTo(prefill.url());
        assertThat(call.get("remote_session_id").asLong()).isEqualTo(7);
        assertThat(sessions.size()).isEqualTo(1);
    }

    @Test
    void removedPrefill_forgetsItsSessions_withoutCalls() {
        sessions.track(7, prefill.url(), D).join();
        assertThat(sessions.freeForNode(prefill.url()).join()).isEmpty();
        assertThat(sessions.size()).isZero();
        assertThat(prefill.calls()).isEmpty();
    }

    @Test
    void gc_freesSessionsOlderThanTheLease() {
        sessions.track(1, prefill.url(), D).join();
        clock.advance(Duration.ofSeconds(30));
        sessions.track(2, prefill.url(), D).join();
        clock.advance(Duration.ofSeconds(31));
        assertThat(sessions.gc(Duration.ofSeconds(60)).join()).extracting(SessionTable.Session::sessionId).containsExactly(1L);
        assertThat(sessions.finish(2).join()).isTrue();
        assertThat(sessions.size()).isZero();
    }
}
