package io.tandem.agent.service;

import io.tandem.agent.errors.UnavailableException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.metrics.VllmMetrics;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.GenerationListener;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import jakarta.inject.Singleton;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import reactor.core.publisher.Flux;
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
        if (agent.draining()) {
            throw new UnavailableException("the agent is shutting down");
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
                engine.submit(r, new Listener(i, sink, remaining));
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

    /** Feeds one choice's callbacks into the shared sink. Called on the engine thread only. */
    private final class Listener implements GenerationListener {
        private final int index;
        private final Sinks.Many<GenerationEvent> sink;
        private final AtomicInteger remaining;
        private long lastTokenNanos = -1;

        Listener(int index, Sinks.Many<GenerationEvent> sink, AtomicInteger remaining) {
            this.index = index;
            this.sink = sink;
            this.remaining = remaining;
        }

        @Override
        public void onToken(TokenOutput t) {
            long now = System.nanoTime();
            if (lastTokenNanos >= 0) {
                metrics.recordInterTokenLatency((now - lastTokenNanos) / 1e9);
            }
            lastTokenNanos = now;
            sink.tryEmitNext(new GenerationEvent.Token(index, t));
        }

        @Override
        public void onFinish(GenerationResult r) {
            metrics.recordFinished(r.finishReason().wireName(), r.promptTokens(), r.outputTokens().length,
                    r.firstTokenNanos(), r.totalNanos());
            sink.tryEmitNext(new GenerationEvent.Finished(index, r));
            if (remaining.decrementAndGet() == 0) {
                sink.tryEmitComplete();
            }
        }
    }
}
