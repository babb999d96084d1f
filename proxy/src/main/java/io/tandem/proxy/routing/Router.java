package io.tandem.proxy.routing;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.channel.Channel;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.tandem.controller.Controller;
import io.tandem.controller.PickRequest;
import io.tandem.controller.Route;
import io.tandem.controller.RoutingMode;
import io.tandem.proxy.config.ProxyConfig;
import io.tandem.proxy.errors.ErrorReply;
import io.tandem.proxy.errors.UpstreamFailedException;
import io.tandem.proxy.errors.UpstreamTimeoutException;
import io.tandem.proxy.metrics.ProxyMetrics;
import io.tandem.proxy.upstream.Buffered;
import io.tandem.proxy.upstream.ForwardClient;
import io.tandem.proxy.upstream.HeadersTimeoutException;
import jakarta.inject.Singleton;
import reactor.core.publisher.Mono;

/**
 * Runs one generation request against the cluster: picks a node (hybrid) or a prefill/decode pair (DistServe),
 * forwards, and retries on another node while nothing has reached the client.
 *
 * <p><b>DistServe</b> (DESIGN.md "A request in DistServe mode"): the prefill node gets the request with
 * {@code max_tokens=1, max_completion_tokens=1, stream=false, with_cache=true, preserve_cache=true} and a
 * proxy-assigned {@code session_id}; its answer's {@code cache_block_ids} and {@code remote_token_ids[0]} go into
 * the decode request's {@code migration_request}, with the original body. The decode node's answer is the client's.
 *
 * <p><b>Failures.</b> A node that cannot be reached, answers 5xx, or whose stream ends before its first byte is
 * marked failed in the controller and the request is tried again without it, up to {@code max-attempts}; a stream
 * is not answered to the client until its first chunk is in hand ({@link ForwardClient#postStreaming}). After the first byte a
 * broken stream ends with an error event and {@code [DONE]}. 4xx answers of a node are the client's own fault and
 * pass through. A client that goes away cancels the upstream call; on DistServe the decode node gets
 * {@code /abort_request} and the prefill node {@code /distserve/free_cache}.
 *
 * <p><b>Threads.</b> Nothing here blocks: work runs as stages of the controller's and the {@link ForwardClient}'s
 * futures, and a stream's body is a {@link StreamRelay} driven by the client's demand. Every call to a node for a request is
 * made on the event loop of the client's connection ({@link Call#inbound}), so a request normally stays on one
 * thread from the client's bytes to the node and back. In hybrid mode the client's body is forwarded unchanged
 * (only {@code model}, {@code stream} and the prompt's text are read, with a streaming parser). Thread-safe.
 */
@Singleton
public class Router {
    private static final System.Logger LOG = System.getLogger(Router.class.getName());

    private final Controller controller;
    private final ForwardClient upstream;
    private final ProxyConfig config;
    private final ProxyMetrics metrics;
    private final ObjectMapper json = new ObjectMapper();
    private final RoutingMode mode;

    public Router(Controller controller, ForwardClient upstream, ProxyConfig config, ProxyMetrics metrics) {
        this.controller = controller;
        this.upstream = upstream;
        this.config = config;
        this.metrics = metrics;
        this.mode = config.distServe() ? RoutingMode.DISTSERVE : RoutingMode.HYBRID;
    }

    /** What to answer: status, content type and a whole or streamed body (one subscriber). */
    public record Reply(int status, String contentType, byte[] whole, StreamRelay stream) {}

    /** One request in flight: its answer, and what to run if the client goes away before it. */
    public record Pending(CompletableFuture<Reply> reply, Runnable cancel) {}

    /**
     * Starts {@code route} ({@code /v1/chat/completions} or {@code /v1/completions}) with the client's body. The
     * reply completes on the client connection's event loop when the node's answer (or its first chunk) is in
     * hand, or exceptionally with the failure to answer (see {@link io.tandem.proxy.errors.ErrorReply#of}).
     *
     * @param inbound the client's connection: its event loop makes the calls to nodes
     */
    public Pending start(String route, byte[] body, Channel inbound) {
        long start = System.nanoTime();
        metrics.request(route);
        Call call;
        try {
            call = Call.parse(json.getFactory(), route, body, inbound, start);
        } catch (RuntimeException e) {
            metrics.error(route, 400);
            return new Pending(CompletableFuture.failedFuture(e), () -> { });
        }
        CompletableFuture<Reply> reply = attempt(call, 1, new HashSet<>(), null).handle((a, e) -> {
            if (e != null) {
                if (!call.cancelled()) {
                    metrics.error(route, ErrorReply.of(e).status());
                }
                throw e instanceof CompletionException ce ? ce : new CompletionException(e);
            }
            call.answered();
            if (a.status() >= 400) {
                metrics.error(route, a.status());
            }
            if (a instanceof Answer.Whole w) {
                metrics.requestLatency(route, since(start));
                return new Reply(w.status(), w.contentType(), w.body(), null);
            }
            Answer.Stream s = (Answer.Stream) a;
            metrics.timeToFirstToken(route, since(start));
            return new Reply(s.status(), s.contentType(), null,
                    s.body().onFinally(() -> metrics.requestLatency(route, since(start))));
        });
        return new Pending(reply, () -> {
            metrics.clientDisconnect();
            call.cancel();
        });
    }

    /** {@link #start} as a Mono, for Micronaut controllers: cancelling it is the client going away. */
    public Mono<Reply> handle(String route, byte[] body, Channel inbound) {
        return Mono.defer(() -> {
            Pending p = start(route, body, inbound);
            return Mono.fromFuture(p.reply(), true).doOnCancel(p.cancel());
        });
    }

    private CompletableFuture<Answer> attempt(Call call, int n, Set<String> excluded, RuntimeException last) {
        if (call.cancelled()) {
            return CompletableFuture.failedFuture(new CancellationException("client went away"));
        }
        return controller.pick(PickRequest.of(call.model, mode, call.prompt).excluding(excluded))
                .exceptionallyCompose(e -> CompletableFuture.failedFuture(last != null ? last : ErrorReply.unwrap(e)))
                .thenCompose(route -> switch (route) {
                    case Route.Hybrid h -> exchange(call, h.node().url(), "hybrid", call.raw, Hooks.NONE);
                    case Route.Disaggregated d -> distServe(call, d);
                })
                .exceptionallyCompose(e -> {
                    Throwable c = ErrorReply.unwrap(e);
                    if (c instanceof NodeFailure f && f.clientError() instanceof UpstreamFailedException
                            && n < config.maxAttempts() && !call.cancelled()) {
                        metrics.retry(call.route);
                        LOG.log(System.Logger.Level.INFO, "retrying " + call.route + " without " + f.nodeUrl()
                                + ": " + f.getMessage());
                        excluded.add(f.nodeUrl());
                        return attempt(call, n + 1, excluded, f.clientError());
                    }
                    return CompletableFuture.failedFuture(c instanceof NodeFailure f ? f.clientError() : c);
                });
    }

    // ------------------------------------------------------------------ DistServe

    private CompletableFuture<Answer> distServe(Call call, Route.Disaggregated route) {
        String p = route.prefill().url();
        String d = route.decode().url();
        long sessionId = controller.newSessionId();
        ObjectNode prefill = call.tree(json);
        prefill.put("max_tokens", 1);
        prefill.put("max_completion_tokens", 1);
        prefill.put("stream", false);
        prefill.remove("stream_options");
        prefill.put("with_cache", true);
        prefill.put("preserve_cache", true);
        prefill.put("session_id", sessionId);
        long t0 = System.nanoTime();
        CompletableFuture<Buffered> sent = upstream.post(call.inbound, p, call.route, bytes(prefill));
        call.onCancel(() -> {
            sent.cancel(true);
            freeCache(call, p, sessionId);
        });
        return sent.handle((resp, err) -> {
            if (err != null) {
                settleUnused(d, t0);
                throw failure(p, "prefill", err);
            }
            if (resp.status() >= 500) {
                settleUnused(d, t0);
                throw failure(p, "prefill", "HTTP " + resp.status() + ": " + snippet(resp.body()));
            }
            if (resp.status() >= 400) {
                settleOk(p, "prefill", t0);
                settleUnused(d, t0);
                return (Object) new Answer.Whole(resp.status(), resp.contentType(), resp.body());
            }
            JsonNode answer;
            try {
                answer = json.readTree(resp.body());
            } catch (java.io.IOException e) {
                settleUnused(d, t0);
                throw failure(p, "prefill", "answer is not JSON: " + snippet(resp.body()));
            }
            JsonNode tokens = answer.get("remote_token_ids");
            if (tokens == null || !tokens.isArray() || tokens.isEmpty() || !tokens.get(0).canConvertToInt()) {
                settleUnused(d, t0);
                throw failure(p, "prefill", "answer has no remote_token_ids (is " + p + " a prefill engine?)");
            }
            settleOk(p, "prefill", t0);
            metrics.prefill(since(t0));
            return answer;
        }).thenCompose(x -> x instanceof Answer a ? CompletableFuture.completedFuture(a)
                : decode(call, route, sessionId, (JsonNode) x));
    }

    private CompletableFuture<Answer> decode(Call call, Route.Disaggregated route, long sessionId, JsonNode prefill) {
        String p = route.prefill().url();
        String d = route.decode().url();
        controller.trackSession(sessionId, p, d);
        ObjectNode body = call.tree(json);
        long decodeSession = controller.newSessionId();
        body.put("session_id", decodeSession);
        ObjectNode m = body.putObject("migration_request");
        m.put("protocol", config.protocol().wire());
        m.put("remote_engine_id", p);
        m.put("remote_session_id", sessionId);
        ArrayNode blocks = m.putArray("remote_block_ids");
        JsonNode ids = prefill.get("cache_block_ids");
        if (ids != null && ids.isArray()) {
            ids.forEach(blocks::add);
        }
        m.put("remote_token_id", prefill.get("remote_token_ids").get(0).asInt());
        m.put("is_dummy_prefill", false);
        long t0 = System.nanoTime();
        call.onCancel(() -> abort(call, d, decodeSession));
        Hooks hooks = new Hooks() {
            @Override
            public void firstByte() {
                controller.finishSession(sessionId); // the decode node pulled the blocks before its first token
                metrics.migration(since(t0));
            }

            @Override
            public void broken() {
                freeCache(call, p, sessionId);
            }

            @Override
            public void clientGone() {
                abort(call, d, decodeSession);
                freeCache(call, p, sessionId);
            }
        };
        return exchange(call, d, "decode", bytes(body), hooks).whenComplete((a, e) -> {
            if (e != null) {
                freeCache(call, p, sessionId);
            }
        });
    }

    private void freeCache(Call call, String prefillUrl, long sessionId) {
        ObjectNode b = json.createObjectNode();
        b.put("remote_engine_id", prefillUrl);
        b.put("remote_session_id", sessionId);
        upstream.post(call.inbound, prefillUrl, "/distserve/free_cache", bytes(b))
                .whenComplete((r, e) -> controller.finishSession(sessionId));
    }

    private void abort(Call call, String nodeUrl, long sessionId) {
        ObjectNode b = json.createObjectNode();
        b.put("session_id", sessionId);
        upstream.post(call.inbound, nodeUrl, "/abort_request", bytes(b));
    }

    // ------------------------------------------------------------------ one node

    /** Callbacks of one upstream exchange (DistServe decode uses them; hybrid needs none). */
    interface Hooks {
        Hooks NONE = new Hooks() { };

        /** The first byte of the answer is in hand. */
        default void firstByte() { }

        /** The stream broke after its first byte. */
        default void broken() { }

        /** The client went away mid-stream. */
        default void clientGone() { }
    }

    private CompletableFuture<Answer> exchange(Call call, String node, String stage, byte[] body, Hooks hooks) {
        long t0 = System.nanoTime();
        if (!call.stream) {
            CompletableFuture<Buffered> sent = upstream.post(call.inbound, node, call.route, body);
            call.onCancel(() -> sent.cancel(true));
            return sent.handle((resp, err) -> {
                if (err != null) {
                    throw failure(node, stage, err);
                }
                if (resp.status() >= 500) {
                    throw failure(node, stage, "HTTP " + resp.status() + ": " + snippet(resp.body()));
                }
                settleOk(node, stage, t0);
                hooks.firstByte();
                return new Answer.Whole(resp.status(), resp.contentType(), resp.body());
            });
        }
        CompletableFuture<ForwardClient.Streamed> sent = upstream.postStreaming(call.inbound, node, call.route, body);
        call.onCancel(() -> sent.cancel(true));
        return sent.<Answer>handle((resp, err) -> {
            if (err != null) {
                throw failure(node, stage, err);
            }
            if (resp.status() >= 500) {
                resp.cancel().run();
                throw failure(node, stage, "HTTP " + resp.status());
            }
            call.onCancel(resp.cancel()); // until the client's subscription takes over
            hooks.firstByte();
            StreamRelay out = new StreamRelay(resp.body(), resp.contentType().startsWith("text/event-stream"),
                    e -> errorEvent(node, e), new StreamRelay.Listener() {
                        @Override
                        public void broken(Throwable error) {
                            controller.markFailure(node, "stream broke: " + error);
                            metrics.nodeFailed(node, stage);
                            metrics.streamError();
                            hooks.broken();
                        }

                        @Override
                        public void ended() {
                            settleOk(node, stage, t0);
                        }

                        @Override
                        public void cancelled() {
                            settleOk(node, stage, t0);
                            metrics.clientDisconnect();
                            hooks.clientGone();
                        }
                    });
            return new Answer.Stream(resp.status(), resp.contentType(), out);
        });
    }

    private byte[] errorEvent(String node, Throwable e) {
        ObjectNode err = json.createObjectNode();
        ObjectNode body = err.putObject("error");
        body.put("message", "the node serving this request failed mid-stream (" + node + "): " + e);
        body.put("type", "upstream_error");
        body.put("code", "upstream_failed");
        byte[] event = ("data: " + err + "\n\n").getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[event.length + SseFraming.DONE.length];
        System.arraycopy(event, 0, out, 0, event.length);
        System.arraycopy(SseFraming.DONE, 0, out, event.length, SseFraming.DONE.length);
        return out;
    }

    // ------------------------------------------------------------------ settling

    private void settleOk(String node, String stage, long t0) {
        Duration d = since(t0);
        controller.recordLatency(node, d);
        metrics.nodeDone(node, stage, d);
    }

    /** A picked node the request never reached (the prefill failed first): its unfinished count goes back down. */
    private void settleUnused(String node, long t0) {
        controller.recordLatency(node, since(t0));
    }

    private NodeFailure failure(String node, String stage, Throwable error) {
        Throwable c = ErrorReply.unwrap(error);
        if (c instanceof CancellationException ce) {
            controller.recordLatency(node, Duration.ZERO);
            throw ce;
        }
        controller.markFailure(node, stage + ": " + c);
        metrics.nodeFailed(node, stage);
        if (c instanceof HeadersTimeoutException) {
            return new NodeFailure(node, new UpstreamTimeoutException(
                    node + " did not answer within " + config.upstreamTimeout().toSeconds() + " s", c));
        }
        return new NodeFailure(node, new UpstreamFailedException(stage + " node " + node + " failed: " + c, c));
    }

    private NodeFailure failure(String node, String stage, String why) {
        controller.markFailure(node, stage + ": " + why);
        metrics.nodeFailed(node, stage);
        return new NodeFailure(node, new UpstreamFailedException(stage + " node " + node + " failed: " + why));
    }

    private byte[] bytes(JsonNode node) {
        try {
            return json.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String snippet(byte[] body) {
        String s = new String(body, 0, Math.min(body.length, 300), StandardCharsets.UTF_8);
        return s.replace('\n', ' ');
    }

    private static Duration since(long t0) {
        return Duration.ofNanos(System.nanoTime() - t0);
    }
}
