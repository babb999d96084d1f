package io.tandem.agent.service;

import io.tandem.agent.errors.KvMigrationException;
import io.tandem.agent.errors.UnavailableException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.metrics.VllmMetrics;
import io.tandem.engine.errors.MigrationFailedException;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.GenerationListener;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import jakarta.inject.Singleton;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * Bridges the engine's callbacks to a reactive stream per HTTP request.
 *
 * <p>A submission is one or more engine requests (n choices, several prompts). Their listeners run on the engine
 * thread and must never block: they only push into a unicast sink that buffers until the HTTP layer subscribes.
 * Cancelling the stream (the client went away, or the non-streaming response was abandoned) aborts every engine
 * request of the submission, which frees their KV blocks at the next engine step.
 *
 * <p>All requests of a submission are submitted before any is returned: if one is refused (queue full, prompt too
 * long) the ones already queued are aborted and the refusal is thrown to the caller, so the client sees one
 * clean error status and no request leaks.
 *
 * <p>A request whose KV cache is pulled from a prefill agent and fails to arrive ends the stream with a
 * {@link KvMigrationException} (502/504) instead of a finish event: no token was produced, so the client gets a
 * real error status. For streamed answers, {@link #started} delays the response headers until the first event,
 * so that such a failure still reaches the client as a status and not as a broken stream.
 *
 * <p>Thread-safe.
 */
@Singleton
public final class GenerationService {
    private final AgentEngine agent;
    private final VllmMetrics metrics;
    private final SessionRegistry sessions;

    public GenerationService(AgentEngine agent, VllmMetrics metrics, SessionRegistry sessions) {
        this.agent = agent;
        this.metrics = metrics;
        this.sessions = sessions;
    }

    /**
     * Submits every request and returns their events merged; the stream completes after the last finish.
     *
     * @param sessionId LMDeploy's session id (for /abort_request), or null
     */
    public Flux<GenerationEvent> submit(List<GenerationRequest> requests, Long sessionId) {
        return submit(requests, sessionId, null);
    }

    /**
     * Same, and completes {@code started} at the first token or finish of any request (exceptionally with
     * {@link KvMigrationException} when the KV pull failed).
     */
    public Flux<GenerationEvent> submit(List<GenerationRequest> requests, Long sessionId,
                                        CompletableFuture<Void> started) {
        if (agent.draining()) {
            throw new UnavailableException("the agent is shutting down");
        }
        if (agent.drainedByController()) {
            throw new UnavailableException("the agent is draining (told by the controller)");
        }
        Engine engine = agent.engine();
        Sinks.Many<GenerationEvent> sink = Sinks.many().unicast().onBackpressureBuffer();
        AtomicInteger remaining = new AtomicInteger(requests.size());
        List<String> submitted = new ArrayList<>(requests.size());
        try {
            for (int i = 0; i < requests.size(); i++) {
                GenerationRequest r = requests.get(i);
                if (sessionId != null) {
                    sessions.add(sessionId, r.requestId());
                }
                engine.submit(r, new Listener(i, sink, remaining, started));
                submitted.add(r.requestId());
            }
        } catch (RuntimeException e) {
            submitted.forEach(engine::abort);
            requests.forEach(r -> sessions.remove(sessionId, r.requestId()));
            throw e;
        }
        return sink.asFlux()
                .doOnCancel(() -> submitted.forEach(engine::abort))
                .doFinally(signal -> submitted.forEach(id -> sessions.remove(sessionId, id)));
    }

    /**
     * Waits for {@code started} (from {@link #submit(List, Long, CompletableFuture)}) before a streamed answer
     * begins. Cancelling the wait (client gone) aborts the requests; a failure drains the events (so the
     * submission's cleanup runs) and ends with the failure.
     */
    public Mono<Void> started(CompletableFuture<Void> started, List<GenerationRequest> requests,
                              Flux<GenerationEvent> events) {
        Engine engine = agent.engine();
        return Mono.fromFuture(started, true)
                .doOnCancel(() -> requests.forEach(r -> engine.abort(r.requestId())))
                .onErrorResume(e -> events.then(Mono.error(e)));
    }

    /** Feeds one choice's callbacks into the shared sink. Called on the engine thread only. */
    private final class Listener implements GenerationListener {
        private final int index;
        private final Sinks.Many<GenerationEvent> sink;
        private final AtomicInteger remaining;
        private final CompletableFuture<Void> started;
        private long lastTokenNanos = -1;

        Listener(int index, Sinks.Many<GenerationEvent> sink, AtomicInteger remaining, CompletableFuture<Void> started) {
            this.index = index;
            this.sink = sink;
            this.remaining = remaining;
            this.started = started;
        }

        @Override
        public void onToken(TokenOutput t) {
            long now = System.nanoTime();
            if (lastTokenNanos >= 0) {
                metrics.recordInterTokenLatency((now - lastTokenNanos) / 1e9);
            }
            lastTokenNanos = now;
            sink.tryEmitNext(new GenerationEvent.Token(index, t));
            if (started != null) {
                started.complete(null);
            }
        }

        @Override
        public void onFinish(GenerationResult r) {
            metrics.recordFinished(r.finishReason().wireName(), r.promptTokens(), r.outputTokens().length,
                    r.firstTokenNanos(), r.totalNanos());
            if (r.error() instanceof MigrationFailedException m) {
                KvMigrationException e = KvMigrationException.of(m);
                if (started != null) {
                    started.completeExceptionally(e);
                }
                sink.tryEmitError(e);
                return;
            }
            if (started != null) {
                started.complete(null);
            }
            sink.tryEmitNext(new GenerationEvent.Finished(index, r));
            if (remaining.decrementAndGet() == 0) {
                sink.tryEmitComplete();
            }
        }
    }
}
