package io.tandem.controller.pairing;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import io.tandem.controller.errors.AgentCallException;
import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.internal.Backoff;
import io.tandem.controller.internal.EventLoop;
import io.tandem.controller.pairing.DistServeWire.ConnectRequest;
import io.tandem.controller.pairing.DistServeWire.DropConnectRequest;
import io.tandem.controller.pairing.DistServeWire.InitRequest;
import io.tandem.controller.pairing.DistServeWire.InitResponse;
import io.tandem.controller.registry.DistServeEngineConfig;

/**
 * Prefill/decode pairs and their DistServe connections.
 *
 * <p>A pair P -> D is connected once, with LMDeploy's handshake: {@code GET /distserve/engine_info} on both,
 * {@code POST /distserve/p2p_initialize} to P (local P, remote D) then to D (local D, remote P), then
 * {@code POST /distserve/p2p_connect} to P with D's endpoint infos and to D with P's. Engine ids are node urls.
 *
 * <p>Concurrent first uses of a pair share one handshake (its future). A failed handshake leaves the pair FAILED
 * until {@code retryBackoff.delay(attempts)} has passed; uses before then fail fast with
 * {@link PairingFailedException}, the first use after it starts a new handshake. {@link #dropNode} forgets every pair
 * of a node and tells the surviving engines ({@code p2p_drop_connect}); a handshake still running for a dropped pair
 * finishes into nothing (its generation is stale).
 *
 * <p>State lives on the controller's owner thread ({@link EventLoop}); network calls run asynchronously and hand
 * their results back to it. Futures returned here complete on the owner thread: callers must not block in
 * dependent stages (the {@code Controller} facade re-dispatches them). Thread-safe.
 */
public final class ConnectionPool {
    private static final System.Logger LOG = System.getLogger(ConnectionPool.class.getName());

    private final EventLoop loop;
    private final DistServeClient client;
    private final Clock clock;
    private final Backoff retryBackoff;
    private final MigrationProtocol protocol;
    /** Owner-thread only. */
    private final Map<PairKey, Entry> pairs = new HashMap<>();
    private long generations;
    private volatile List<PairInfo> snapshot = List.of();

    public ConnectionPool(EventLoop loop, DistServeClient client, Clock clock, Backoff retryBackoff,
                          MigrationProtocol protocol) {
        this.loop = loop;
        this.client = client;
        this.clock = clock;
        this.retryBackoff = retryBackoff;
        this.protocol = protocol;
    }

    /** Every known pair, as of the last change. */
    public List<PairInfo> pairs() {
        return snapshot;
    }

    public Optional<PairInfo> pair(String prefillUrl, String decodeUrl) {
        PairKey key = new PairKey(prefillUrl, decodeUrl);
        return snapshot.stream().filter(p -> p.key().equals(key)).findFirst();
    }

    /** Connects the pair if it is not connected; completes when it is, or fails with {@link PairingFailedException}. */
    public CompletableFuture<PairInfo> connect(String prefillUrl, String decodeUrl) {
        PairKey key = new PairKey(prefillUrl, decodeUrl);
        return loop.submit("PairConnect", () -> connectInLoop(key)).thenCompose(f -> f);
    }

    /** Connects every prefill x decode pair (already connected ones count as done) and reports each. */
    public CompletableFuture<List<WarmupResult>> warmup(Collection<String> prefillUrls, Collection<String> decodeUrls) {
        List<CompletableFuture<WarmupResult>> all = new ArrayList<>();
        for (String p : prefillUrls) {
            for (String d : decodeUrls) {
                all.add(connect(p, d).handle((info, error) -> error == null
                        ? new WarmupResult(p, d, true, "", info.elapsed())
                        : new WarmupResult(p, d, false, unwrap(error).getMessage(), Duration.ZERO)));
            }
        }
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
                .thenApply(v -> all.stream().map(CompletableFuture::join).toList());
    }

    /**
     * Forgets every pair involving {@code nodeUrl} and sends {@code p2p_drop_connect} for each connected (or
     * connecting) one to both engines (the removed one may be dead: its failures are ignored). Completes with the
     * number of pairs dropped once the calls have finished.
     */
    public CompletableFuture<Integer> dropNode(String nodeUrl) {
        return loop.submit("PairsDropNode", () -> {
            List<PairKey> dropped = new ArrayList<>();
            pairs.entrySet().removeIf(e -> {
                if (!e.getKey().involves(nodeUrl)) {
                    return false;
                }
                if (e.getValue().state != PairState.FAILED) {
                    dropped.add(e.getKey());
                }
                return true;
            });
            publish();
            List<CompletableFuture<Void>> calls = new ArrayList<>();
            for (PairKey k : dropped) {
                calls.add(quietly(client.p2pDropConnect(k.prefillUrl(), new DropConnectRequest(k.prefillUrl(), k.decodeUrl()))));
                calls.add(quietly(client.p2pDropConnect(k.decodeUrl(), new DropConnectRequest(k.decodeUrl(), k.prefillUrl()))));
            }
            return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).thenApply(v -> dropped.size());
        }).thenCompose(f -> f);
    }

    private CompletableFuture<PairInfo> connectInLoop(PairKey key) {
        Instant now = clock.instant();
        Entry entry = pairs.computeIfAbsent(key, k -> new Entry(++generations));
        switch (entry.state) {
            case CONNECTED -> {
                return CompletableFuture.completedFuture(entry.info(key));
            }
            case CONNECTING -> {
                return entry.inFlight;
            }
            case FAILED -> {
                if (entry.attempts > 0 && now.isBefore(entry.retryAt)) {
                    return CompletableFuture.failedFuture(new PairingFailedException("pair " + key + " failed ("
                            + entry.lastError + "); next try in " + Duration.between(now, entry.retryAt).toMillis()
                            + " ms", entry.failedNode, null));
                }
            }
        }
        entry.state = PairState.CONNECTING;
        entry.attempts++;
        long generation = entry.generation;
        Instant started = now;
        CompletableFuture<PairInfo> result = new CompletableFuture<>();
        entry.inFlight = result;
        publish();
        handshake(key).whenComplete((ok, error) -> loop.execute("PairHandshakeDone", () -> {
            Entry current = pairs.get(key);
            Duration elapsed = Duration.between(started, clock.instant());
            if (current == null || current.generation != generation) {
                result.completeExceptionally(new PairingFailedException("pair " + key + " was dropped while connecting"));
                return;
            }
            current.inFlight = null;
            current.elapsed = elapsed;
            if (error == null) {
                current.state = PairState.CONNECTED;
                current.attempts = 0;
                current.lastError = "";
                current.failedNode = null;
                current.connectedAt = Optional.of(clock.instant());
                publish();
                result.complete(current.info(key));
            } else {
                Throwable cause = unwrap(error);
                current.state = PairState.FAILED;
                current.lastError = cause.getMessage();
                current.failedNode = cause instanceof HandshakeStepException h ? h.node : null;
                current.retryAt = clock.instant().plus(retryBackoff.delay(current.attempts));
                publish();
                LOG.log(System.Logger.Level.WARNING, "pair " + key + " failed (attempt " + current.attempts + "): "
                        + current.lastError);
                result.completeExceptionally(new PairingFailedException("pair " + key + " failed: " + current.lastError,
                        current.failedNode, cause.getCause() != null ? cause.getCause() : cause));
            }
        }));
        return result;
    }

    /** LMDeploy's handshake; runs off the owner thread (pure network). */
    private CompletableFuture<Void> handshake(PairKey key) {
        String p = key.prefillUrl();
        String d = key.decodeUrl();
        CompletableFuture<DistServeEngineConfig> pInfo = step(p, "engine_info", client.engineInfo(p));
        CompletableFuture<DistServeEngineConfig> dInfo = step(d, "engine_info", client.engineInfo(d));
        return pInfo.thenCombine(dInfo, Configs::new).thenCompose(cfg -> {
            CompletableFuture<InitResponse> pInit = step(p, "p2p_initialize",
                    client.p2pInitialize(p, InitRequest.of(p, cfg.prefill, d, cfg.decode, protocol)));
            return pInit.thenCompose(pr -> step(d, "p2p_initialize",
                            client.p2pInitialize(d, InitRequest.of(d, cfg.decode, p, cfg.prefill, protocol)))
                    .thenCompose(dr -> step(p, "p2p_connect", client.p2pConnect(p, new ConnectRequest(protocol, d,
                                    dr.engineEndpointInfo(), dr.kvtransferEndpointInfo())))
                            .thenCompose(v -> step(d, "p2p_connect", client.p2pConnect(d, new ConnectRequest(protocol, p,
                                    pr.engineEndpointInfo(), pr.kvtransferEndpointInfo()))))));
        });
    }

    private static <T> CompletableFuture<T> step(String node, String what, CompletableFuture<T> call) {
        return call.exceptionallyCompose(e -> CompletableFuture.failedFuture(
                new HandshakeStepException(node, what + " on " + node + ": " + unwrap(e).getMessage(), unwrap(e))));
    }

    private static CompletableFuture<Void> quietly(CompletableFuture<Void> call) {
        return call.exceptionally(e -> {
            LOG.log(System.Logger.Level.DEBUG, "ignored while dropping a pair: " + unwrap(e).getMessage());
            return null;
        });
    }

    static Throwable unwrap(Throwable e) {
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private void publish() {
        List<PairInfo> next = new ArrayList<>(pairs.size());
        pairs.forEach((k, e) -> next.add(e.info(k)));
        snapshot = List.copyOf(next);
    }

    private record Configs(DistServeEngineConfig prefill, DistServeEngineConfig decode) {}

    /** A failed handshake step, naming the engine whose call failed. */
    private static final class HandshakeStepException extends AgentCallException {
        final String node;

        HandshakeStepException(String node, String message, Throwable cause) {
            super(message, cause);
            this.node = node;
        }
    }

    /** Owner-thread only. */
    private static final class Entry {
        final long generation;
        PairState state = PairState.FAILED;
        int attempts;
        String lastError = "";
        String failedNode;
        Instant retryAt = Instant.MIN;
        Optional<Instant> connectedAt = Optional.empty();
        Duration elapsed = Duration.ZERO;
        CompletableFuture<PairInfo> inFlight;

        Entry(long generation) {
            this.generation = generation;
        }

        PairInfo info(PairKey key) {
            return new PairInfo(key, state, attempts, lastError, retryAt, connectedAt, elapsed);
        }
    }
}
