package io.tandem.proxy.cluster;

import io.micronaut.context.annotation.Bean;
import io.micronaut.context.annotation.Factory;
import io.tandem.proxy.config.ProxyConfig;
import io.tandem.proxy.upstream.UpstreamClient;
import jakarta.inject.Singleton;

/** The one HTTP client to nodes; carries the cluster token. */
@Factory
public class UpstreamFactory {
    @Singleton
    @Bean(preDestroy = "close")
    public UpstreamClient upstreamClient(ProxyConfig config) {
        return new UpstreamClient(config.connectTimeout(), config.upstreamTimeout(), config.token());
    }
}
