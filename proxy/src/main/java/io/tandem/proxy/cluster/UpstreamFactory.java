package io.tandem.proxy.cluster;

import io.micronaut.context.annotation.Bean;
import io.micronaut.context.annotation.Factory;
import io.tandem.controller.Controller;
import io.tandem.proxy.config.ProxyConfig;
import io.tandem.proxy.upstream.ForwardClient;
import io.tandem.proxy.upstream.UpstreamClient;
import jakarta.inject.Singleton;

/** The HTTP clients to nodes: generation requests on the server's event loops, node management on the JDK client. */
@Factory
public class UpstreamFactory {
    @Singleton
    public ForwardClient forwardClient(ProxyConfig config, Controller controller) {
        ForwardClient client = new ForwardClient(config.connectTimeout(), config.upstreamTimeout(), config.token());
        controller.onNodeRemoved(client::closeIdle); // no pooled connections kept to a node that left the pool
        return client;
    }

    @Singleton
    @Bean(preDestroy = "close")
    public UpstreamClient upstreamClient(ProxyConfig config) {
        return new UpstreamClient(config.connectTimeout(), config.upstreamTimeout());
    }
}
