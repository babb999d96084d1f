package io.tandem.controller;

/**
 * Counters since start, for the proxy's /metrics (monotonic unless named as a gauge).
 *
 * @param picks               routing decisions made
 * @param pickFailures        picks that found no node or pair
 * @param pairRetries         DistServe picks retried with another pair after a pairing failure
 * @param healthChecksFailed  HTTP health probes that failed
 * @param requestFailures     node failures reported with markFailure
 * @param streamsBroken       control streams that ended while current
 * @param consulPollFailures  Consul catalog reads that failed
 * @param sessionsFreed       prefill sessions freed (node removal or gc)
 * @param registryEvents      events applied by the registry
 * @param nodes               gauge: nodes in the pool
 * @param routableNodes       gauge: nodes routable now
 * @param connectedPairs      gauge: DistServe pairs connected
 * @param trackedSessions     gauge: DistServe sessions tracked
 */
public record ControllerMetrics(long picks, long pickFailures, long pairRetries, long healthChecksFailed,
                                long requestFailures, long streamsBroken, long consulPollFailures, long sessionsFreed,
                                long registryEvents, int nodes, int routableNodes, int connectedPairs,
                                int trackedSessions) {}
