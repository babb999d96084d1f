package io.tandem.proxy.http;

import java.lang.reflect.Field;
import io.micronaut.context.BeanProvider;
import io.micronaut.context.annotation.Requires;
import io.micronaut.context.event.BeanCreatedEvent;
import io.micronaut.context.event.BeanCreatedEventListener;
import io.micronaut.http.body.stream.BodySizeLimits;
import io.micronaut.http.server.netty.HttpCompressionStrategy;
import io.micronaut.http.server.netty.NettyServerCustomizer;
import io.micronaut.http.server.netty.configuration.NettyHttpServerConfiguration;
import io.micronaut.http.server.netty.handler.PipeliningServerHandler;
import io.micronaut.http.server.netty.handler.RequestHandler;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.tandem.proxy.metrics.ProxyMetrics;
import io.tandem.proxy.routing.Router;
import io.tandem.proxy.security.AccessPolicy;
import jakarta.inject.Singleton;

/**
 * Puts {@link GenerationHandler} in front of Micronaut's router on every HTTP/1.1 connection: once Micronaut has
 * built a connection's pipeline, its {@link PipeliningServerHandler} is replaced by one, configured the same way
 * (body size limits, compression, request decompression), whose request handler is a {@link GenerationHandler}
 * wrapping Micronaut's. Micronaut offers no hook to wrap its request handler, so its handler is read from the
 * replaced {@code PipeliningServerHandler}'s private {@code requestHandler} field (Micronaut 4.10; a version
 * without that field fails at start-up, and {@code GenerationFastPathIT} checks that the two routes are served
 * here: {@code tandem_proxy_fast_path_requests_total}). HTTP/2 connections, which
 * the proxy does not enable, keep Micronaut's handlers.
 *
 * <p>{@code tandem.proxy.fast-path=false} leaves Micronaut serving every route (for comparison benchmarks).
 */
@Singleton
@Requires(property = "tandem.proxy.fast-path", notEquals = "false")
public class GenerationFastPath implements BeanCreatedEventListener<NettyServerCustomizer.Registry> {
    private static final System.Logger LOG = System.getLogger(GenerationFastPath.class.getName());
    static final String MICRONAUT_HANDLER = "micronaut-inbound-handler";
    static final String FLUSH_CONSOLIDATION = "tandem-flush-consolidation";
    private static final Field REQUEST_HANDLER;

    static {
        try {
            REQUEST_HANDLER = PipeliningServerHandler.class.getDeclaredField("requestHandler");
            REQUEST_HANDLER.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("this Micronaut version's PipeliningServerHandler has no requestHandler"
                    + " field; the generation fast path needs it (set tandem.proxy.fast-path=false to run without)", e);
        }
    }

    private final BeanProvider<Router> router;
    private final BeanProvider<AccessPolicy> policy;
    private final BeanProvider<NettyHttpServerConfiguration> server;
    private final BeanProvider<HttpCompressionStrategy> compression;
    private final BeanProvider<ProxyMetrics> metrics;

    public GenerationFastPath(BeanProvider<Router> router, BeanProvider<AccessPolicy> policy,
                              BeanProvider<NettyHttpServerConfiguration> server,
                              BeanProvider<HttpCompressionStrategy> compression, BeanProvider<ProxyMetrics> metrics) {
        this.router = router;
        this.policy = policy;
        this.server = server;
        this.compression = compression;
        this.metrics = metrics;
    }

    @Override
    public NettyServerCustomizer.Registry onCreated(BeanCreatedEvent<NettyServerCustomizer.Registry> event) {
        NettyServerCustomizer.Registry registry = event.getBean();
        registry.register(new Customizer(null));
        return registry;
    }

    /** What every connection's handler is built from, resolved on the first connection. */
    private record Parts(Router router, AccessPolicy policy, ProxyMetrics metrics, HttpCompressionStrategy compression,
                         BodySizeLimits limits, boolean decompression) {}

    private volatile Parts parts;

    private Parts parts(Channel first) {
        Parts p = parts;
        if (p == null) {
            synchronized (this) {
                p = parts;
                if (p == null) {
                    NettyHttpServerConfiguration cfg = server.get();
                    p = new Parts(router.get(), policy.get(), metrics.get(), compression.get(),
                            new BodySizeLimits(cfg.getMaxRequestSize(), cfg.getMaxRequestBufferSize()),
                            cfg.isRequestDecompressionEnabled());
                    parts = p;
                    LOG.log(System.Logger.Level.INFO, "generation routes on the Netty fast path; transport: "
                            + first.getClass().getSimpleName() + ", " + eventLoops(first) + " event loops");
                }
            }
        }
        return p;
    }

    /** How many event loops the connection's group has ("?" where the group does not say). */
    private static String eventLoops(Channel channel) {
        return channel.eventLoop().parent() instanceof io.netty.util.concurrent.MultithreadEventExecutorGroup g
                ? Integer.toString(g.executorCount()) : "?";
    }

    private void install(Channel channel) {
        ChannelPipeline pipeline = channel.pipeline();
        ChannelHandler current = pipeline.get(MICRONAUT_HANDLER);
        if (!(current instanceof PipeliningServerHandler micronaut)) {
            return; // not an HTTP/1.1 stream pipeline
        }
        RequestHandler next;
        try {
            next = (RequestHandler) REQUEST_HANDLER.get(micronaut);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        Parts p = parts(channel);
        PipeliningServerHandler ours = new PipeliningServerHandler(
                new GenerationHandler(next, p.router(), p.policy(), p.metrics()));
        ours.setCompressionStrategy(p.compression());
        ours.setBodySizeLimits(p.limits());
        ours.setRequestDecompressionEnabled(p.decompression());
        pipeline.replace(micronaut, MICRONAUT_HANDLER, ours);
        consolidateFlushes(pipeline);
    }

    /**
     * Makes the flushes of Micronaut's connection handler wait for the end of the event loop's current read (of this
     * connection, or, through a task, of a node's connection): a node's chunk and the stream's end, read together,
     * leave in one write system call instead of two, as nginx sends them (docs/benchmarks.md "Proxy", "Fewer
     * writes per stream").
     */
    static void consolidateFlushes(ChannelPipeline pipeline) {
        pipeline.addBefore(MICRONAUT_HANDLER, FLUSH_CONSOLIDATION, new FlushConsolidationHandler(
                FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES, true));
    }

    private final class Customizer implements NettyServerCustomizer {
        private final Channel channel;

        Customizer(Channel channel) {
            this.channel = channel;
        }

        @Override
        public NettyServerCustomizer specializeForChannel(Channel channel, ChannelRole role) {
            return new Customizer(channel);
        }

        @Override
        public void onStreamPipelineBuilt() {
            if (channel != null) {
                install(channel);
            }
        }
    }
}
