package io.tandem.controller.pairing;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.pairing.DistServeWire.FreeCacheRequest;

/**
 * DistServe sessions in flight: a prefill engine holds KV blocks for a session until its decode engine has pulled
 * them. The proxy tracks a session when the prefill answered and finishes it when the decode has taken over; what
 * is left here is blocks that may leak. They are freed with {@code POST /distserve/free_cache} to the prefill engine
 * ({@code remote_engine_id} = the prefill engine, {@code remote_session_id} = the session) when:
 * <ul>
 *   <li>the decode engine leaves the pool ({@link #freeForNode}), or</li>
 *   <li>the session is older than the lease ({@link #gc}, LMDeploy's unimplemented {@code /distserve/gc}).</li>
 * </ul>
 * If the prefill engine itself leaves, its blocks went with it: those sessions are just forgotten.
 *
 * <p>State on the controller's owner thread; thread-safe.
 */
public final class SessionTable {
    private final EventLoop loop;
    private final DistServeClient client;
    private final Clock clock;
    /** Owner-thread only; insertion order = age order. */
    private final Map<Long, Session> sessions = new LinkedHashMap<>();
    private volatile int size;

    /** One session: its id, where its blocks are, where they go, when it started. */
    public record Session(long sessionId, String prefillUrl, String decodeUrl, Instant startedAt) {}

    public SessionTable(EventLoop loop, DistServeClient client, Clock clock) {
        this.loop = loop;
        this.client = client;
        this.clock = clock;
    }

    public int size() {
        return size;
    }

    /** The prefill engine holds blocks for {@code sessionId}, to be pulled by {@code decodeUrl}. */
    public CompletableFuture<Void> track(long sessionId, String prefillUrl, String decodeUrl) {
        return loop.submit("SessionTracked", () -> {
            sessions.put(sessionId, new Session(sessionId, prefillUrl, decodeUrl, clock.instant()));
            size = sessions.size();
            return null;
        });
    }

    /** The decode engine took the blocks over (or the session ended): nothing to free. */
    public CompletableFuture<Boolean> finish(long sessionId) {
        return loop.submit("SessionFinished", () -> {
            boolean had = sessions.remove(sessionId) != null;
            size = sessions.size();
            return had;
        });
    }

    /** Frees the blocks of every session that waits for {@code nodeUrl}; forgets those held by it. */
    public CompletableFuture<List<Session>> freeForNode(String nodeUrl) {
        return loop.submit("SessionsFreeForNode", () -> {
            forget(s -> s.prefillUrl().equals(nodeUrl));
            return free(s -> s.decodeUrl().equals(nodeUrl));
        }).thenCompose(f -> f);
    }

    /** Frees the blocks of every session older than {@code lease}; completes with the sessions freed. */
    public CompletableFuture<List<Session>> gc(Duration lease) {
        return loop.submit("SessionsGc", () -> {
            Instant horizon = clock.instant().minus(lease);
            return free(s -> s.startedAt().isBefore(horizon));
        }).thenCompose(f -> f);
    }

    private void forget(Predicate<Session> which) {
        sessions.values().removeIf(which);
        size = sessions.size();
    }

    private CompletableFuture<List<Session>> free(Predicate<Session> which) {
        List<Session> freed = new ArrayList<>();
        for (Iterator<Session> it = sessions.values().iterator(); it.hasNext(); ) {
            Session s = it.next();
            if (which.test(s)) {
                freed.add(s);
                it.remove();
            }
        }
        size = sessions.size();
        List<CompletableFuture<Void>> calls = freed.stream()
                .map(s -> client.freeCache(s.prefillUrl(), new FreeCacheRequest(s.prefillUrl(), s.sessionId()))
                        .exceptionally(e -> null)) // a prefill engine that cannot be reached holds nothing we can free
                .toList();
        return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).thenApply(v -> freed);
    }
}
