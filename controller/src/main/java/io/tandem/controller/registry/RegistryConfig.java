package io.tandem.controller.registry;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;

import io.tandem.controller.health.CircuitBreakerConfig;

/**
 * Settings of a {@link NodeRegistry}.
 *
 * @param clock            time source (a fake clock in tests)
 * @param circuitBreaker   per-node breaker settings
 * @param heartbeatTimeout an attached node with no load report for this long is marked unhealthy
 * @param streamNodeExpiry a node that registered on a stream and has been detached and unhealthy this long leaves
 *                         the pool
 * @param stateFile        where the node list is persisted (empty = not persisted)
 */
public record RegistryConfig(Clock clock, CircuitBreakerConfig circuitBreaker, Duration heartbeatTimeout,
                             Duration streamNodeExpiry, Optional<Path> stateFile) {
    public RegistryConfig {
        if (heartbeatTimeout.isNegative() || heartbeatTimeout.isZero()) {
            throw new IllegalArgumentException("heartbeatTimeout: " + heartbeatTimeout + " (expected: > 0)");
        }
        if (streamNodeExpiry.isNegative() || streamNodeExpiry.isZero()) {
            throw new IllegalArgumentException("streamNodeExpiry: " + streamNodeExpiry + " (expected: > 0)");
        }
    }

    public static RegistryConfig defaults(Clock clock) {
        return new RegistryConfig(clock, CircuitBreakerConfig.DEFAULT, Duration.ofSeconds(3), Duration.ofMinutes(10),
                Optional.empty());
    }

    public RegistryConfig withStateFile(Path path) {
        return new RegistryConfig(clock, circuitBreaker, heartbeatTimeout, streamNodeExpiry, Optional.ofNullable(path));
    }
}
