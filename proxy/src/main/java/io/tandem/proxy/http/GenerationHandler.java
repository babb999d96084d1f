package io.tandem.proxy.http;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Date;
import java.util.function.BiConsumer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.micronaut.http.body.AvailableByteBody;
import io.micronaut.http.body.CloseableByteBody;
import io.micronaut.http.netty.body.AvailableNettyByteBody;
import io.micronaut.http.netty.body.NettyByteBodyFactory;
import io.micronaut.http.server.netty.handler.OutboundAccess;
import io.micronaut.http.server.netty.handler.RequestHandler;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DateFormatter;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.tandem.proxy.errors.ApiError;
import io.tandem.proxy.errors.ErrorReply;
import io.tandem.proxy.metrics.ProxyMetrics;
import io.tandem.proxy.routing.Router;
import io.tandem.proxy.security.AccessPolicy;

/**
 * Serves {@code POST /v1/chat/completions} and {@code POST /v1/completions} straight from Micronaut's
 * per-connection HTTP/1.1 handler, and hands every other request to Micronaut's own router ({@code next}).
 *
 * <p>Why: with the two generation routes behind Micronaut's routing, a JFR profile of the proxy bench put 69 % of
 * the proxy's samples in Micronaut's request pipeline (route matching, the filter chain, argument binding, the
 * response lifecycle) and not in proxying (docs/benchmarks.md "Proxy"). Here a request costs one path comparison,
 * the {@link AccessPolicy} (the same rules {@code SecurityFilter} applies to the other routes), and the
 * {@link Router}. What Micronaut's connection handler does is kept: HTTP/1.1 pipelining (answers leave in request
 * order, whichever side serves them), keep-alive and {@code Connection: close}, {@code Expect: 100-continue},
 * request decompression, the body size limit ({@code micronaut.server.max-request-size}, answered here with an
 * OpenAI-style 413) and backpressure of streamed answers.
 *
 * <p>Failures answer the OpenAI error body of {@link ErrorReply#of}, as the Micronaut exception handlers do for the
 * other routes. A client that goes away before the answer's head cancels the routing (which aborts upstream work,
 * as {@link Router} documents); after it, Micronaut's outbound handler cancels the streamed body.
 *
 * <p>Threads: everything runs on the connection's event loop (one instance per connection).
 */
final class GenerationHandler implements RequestHandler {
    static final String CHAT = "/v1/chat/completions";
    static final String COMPLETIONS = "/v1/completions";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RequestHandler next;
    private final Router router;
    private final AccessPolicy policy;
    private final ProxyMetrics metrics;

    GenerationHandler(RequestHandler next, Router router, AccessPolicy policy, ProxyMetrics metrics) {
        this.next = next;
        this.router = router;
        this.policy = policy;
        this.metrics = metrics;
    }

    /** The generation route {@code request} is for, or null when Micronaut should serve it. */
    static String route(HttpRequest request) {
        if (!HttpMethod.POST.equals(request.method())) {
            return null;
        }
        String uri = request.uri();
        int q = uri.indexOf('?');
        String path = q < 0 ? uri : uri.substring(0, q);
        return switch (path) {
            case CHAT -> CHAT;
            case COMPLETIONS -> COMPLETIONS;
            default -> null;
        };
    }

    @Override
    public void accept(ChannelHandlerContext ctx, HttpRequest request, CloseableByteBody body, OutboundAccess out) {
        String route = route(request);
        if (route == null) {
            next.accept(ctx, request, body, out);
            return;
        }
        metrics.fastPath();
        HttpHeaders h = request.headers();
        ErrorReply rejected = policy.check(route, address(ctx.channel().remoteAddress()),
                h.get(HttpHeaderNames.AUTHORIZATION), h.get("x-api-key"), h.get("X-Client-Name"));
        if (rejected != null) {
            body.close();
            writeError(out, rejected);
            return;
        }
        if (body instanceof AvailableByteBody whole) {
            route(ctx, route, whole.toByteArray(), out);
            return;
        }
        body.buffer().whenComplete((whole, e) -> ctx.executor().execute(() -> {
            if (e != null) {
                body.close();
                writeError(out, ErrorReply.of(e));
            } else {
                route(ctx, route, whole.toByteArray(), out);
            }
        }));
    }

    private void route(ChannelHandlerContext ctx, String route, byte[] body, OutboundAccess out) {
        Router.Pending pending = router.start(route, body, ctx.channel());
        Answer answer = new Answer(ctx, out, pending.cancel());
        pending.reply().whenComplete(answer);
        answer.watch();
    }

    /**
     * One request's answer: written once, from the router's reply or failure, on the connection's event loop; the
     * routing is cancelled if the client goes away before it (a listener on the connection's close, removed once
     * the answer is written).
     */
    private static final class Answer implements ChannelFutureListener, BiConsumer<Router.Reply, Throwable> {
        private final ChannelHandlerContext ctx;
        private final OutboundAccess out;
        private final Runnable cancel;
        private boolean watching;
        private boolean answered;

        Answer(ChannelHandlerContext ctx, OutboundAccess out, Runnable cancel) {
            this.ctx = ctx;
            this.out = out;
            this.cancel = cancel;
        }

        /** Cancels the routing on the client's disconnect, unless it already answered (synchronously). */
        void watch() {
            if (!answered) {
                watching = true;
                ctx.channel().closeFuture().addListener(this);
            }
        }

        @Override
        public void operationComplete(io.netty.channel.ChannelFuture future) {
            if (!answered) {
                answered = true;
                cancel.run(); // the client went away before the answer's head
            }
        }

        @Override
        public void accept(Router.Reply reply, Throwable error) {
            if (!ctx.executor().inEventLoop()) {
                ctx.executor().execute(() -> accept(reply, error));
                return;
            }
            if (answered) {
                return;
            }
            answered = true;
            if (watching) {
                ctx.channel().closeFuture().removeListener(this);
            }
            if (error != null) {
                writeError(out, ErrorReply.of(error));
                return;
            }
            try {
                write(ctx, out, reply);
            } catch (RuntimeException e) {
                writeError(out, ErrorReply.of(e));
            }
        }
    }

    private static void write(ChannelHandlerContext ctx, OutboundAccess out, Router.Reply reply) {
        HttpResponse head = head(reply.status(), reply.contentType());
        if (reply.whole() != null) {
            HttpUtil.setContentLength(head, reply.whole().length);
            out.write(head, new AvailableNettyByteBody(Unpooled.wrappedBuffer(reply.whole())));
            return;
        }
        HttpUtil.setTransferEncodingChunked(head, true);
        out.write(head, new NettyByteBodyFactory(ctx.channel()).adaptNetty(reply.stream().byteBufs()));
    }

    private static void writeError(OutboundAccess out, ErrorReply e) {
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(new ApiError(new ApiError.Body(e.message(), e.type(), e.code(), null)));
        } catch (JsonProcessingException x) {
            throw new IllegalStateException("an ApiError always serializes", x);
        }
        HttpResponse head = head(e.status(), "application/json");
        if (e.retryAfterSeconds() > 0) {
            head.headers().set(HttpHeaderNames.RETRY_AFTER, e.retryAfterSeconds());
        }
        HttpUtil.setContentLength(head, bytes.length);
        out.write(head, new AvailableNettyByteBody(Unpooled.wrappedBuffer(bytes)));
    }

    private static HttpResponse head(int status, String contentType) {
        HttpResponse head = new DefaultHttpResponse(io.netty.handler.codec.http.HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(status));
        head.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType == null ? HttpHeaderValues.APPLICATION_JSON : contentType);
        head.headers().set(HttpHeaderNames.DATE, Clock.date());
        return head;
    }

    private static InetAddress address(SocketAddress a) {
        return a instanceof InetSocketAddress i ? i.getAddress() : null;
    }

    @Override
    public void handleUnboundError(Throwable cause) {
        next.handleUnboundError(cause);
    }

    @Override
    public void responseWritten(Object attachment) {
        if (attachment != null) {
            next.responseWritten(attachment); // only Micronaut's requests set one
        }
    }

    @Override
    public void removed() {
        next.removed();
    }

    /** The {@code Date} header's value, formatted once a second. */
    private static final class Clock {
        private static volatile long second = -1;
        private static volatile String value = "";

        static String date() {
            long now = System.currentTimeMillis();
            long s = now / 1000;
            if (s != second) {
                value = DateFormatter.format(new Date(now));
                second = s;
            }
            return value;
        }
    }
}
