package io.tandem.proxy.cluster;

import java.nio.file.Path;

import io.micronaut.context.annotation.Bean;
import io.micronaut.context.annotation.Factory;
import io.tandem.controller.Controller;
import io.tandem.proxy.config.ProxyConfig;
import jakarta.inject.Singleton;

/** The proxy's one {@link Controller}, built from {@link ProxyConfig} and closed with the application context. */
@Factory
public class ControllerFactory {
    @Singleton
    @Bean(preDestroy = "close")
    public Controller controller(ProxyConfig config) {
        Controller.Builder b = Controller.builder()
                .hybridStrategy(config.hybridStrategyName())
                .prefillStrategy(config.prefillStrategyName())
                .decodeStrategy(config.decodeStrategyName())
                .healthInterval(config.healthInterval())
                .healthTimeout(config.healthTimeout())
                .sessionLease(config.sessionLease())
                .clusterToken(config.clusterToken())
                .nodeAdminKey(config.nodeAdmin().orElse(null))
                .nodeAdminTimeout(config.nodeAdminTimeout())
                .migrationProtocol(config.protocol());
        if (!config.stateFile().isBlank()) {
            b.stateFile(Path.of(config.stateFile()));
        }
        config.consul().ifPresent(url -> b.consul(url, config.consulService(), config.consulWait()));
        if (config.grpcPort() >= 0) {
            b.grpcPort(config.grpcPort());
        }
        return b.build();
    }
}
