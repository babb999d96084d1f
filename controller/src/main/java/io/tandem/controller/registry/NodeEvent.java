package io.tandem.controller.registry;


/**
 * The named events that change the node pool. Each is applied by the registry's owner thread, one at a time, in
 * the order submitted. Events about a node that is no longer in the pool are ignored (it was removed meanwhile),
 * except {@link NodeRemoved}, {@link DrainSet}, {@link SleepSet} and {@link WeightsAccepted}, which fail with
 * NodeNotFoundException.
 */
public sealed interface NodeEvent {
    /** An operator, the state file or discovery adds a node (or updates its role, models and speed). */
    record NodeAdded(NodeSpec spec) implements NodeEvent {}

    /** The node leaves the pool; its pairs are dropped and its sessions freed by the listeners. */
    record NodeRemoved(String url) implements NodeEvent {}

    /**
     * An agent registered on a control stream, naming the weights it serves ({@code ""}: not named), so that a
     * node that lost pushed weights is never routable in between.
     */
    record StreamAttached(NodeSpec spec, String weightsVersion) implements NodeEvent {
        public StreamAttached(NodeSpec spec) {
            this(spec, "");
        }
    }

    /** A control stream ended or failed: the node is out of rotation at once. */
    record StreamBroken(String url, String reason) implements NodeEvent {}

    /** An HTTP health probe finished. */
    /** {@code timedOut}: the probe got no answer in time (as opposed to a refused connection or an error status). */
    /**
     * {@code weightsVersion}: what the probe's answer said about the node's weights ({@code ""}: nothing), applied
     * before the health, so that a node that lost pushed weights is never routable in between.
     */
    record HealthReport(String url, boolean healthy, String reason, boolean timedOut, String weightsVersion)
            implements NodeEvent {
        public HealthReport(String url, boolean healthy, String reason, boolean timedOut) {
            this(url, healthy, reason, timedOut, "");
        }

        public HealthReport(String url, boolean healthy, String reason) {
            this(url, healthy, reason, false);
        }
    }

    /** A load report arrived on a control stream (it doubles as the stream's heartbeat). */
    record LoadReport(String url, int running, int waiting, int kvBlocksUsed, int kvBlocksFree,
                      double tokensPerSecond) implements NodeEvent {}

    /**
     * A routed request finished well and the node's circuit breaker needs to hear it (not closed, or not yet stable):
     * a circuit success. Its counters were updated on the caller's thread ({@link NodeRegistry#requestFinished}).
     */
    record RequestSucceeded(String url) implements NodeEvent {}

    /**
     * A routed request failed because of the node: a circuit failure. Its unfinished count was lowered on the
     * caller's thread ({@link NodeRegistry#requestFailed}).
     */
    record RequestFailed(String url, String reason) implements NodeEvent {}

    /** An operator starts or ends draining: a draining node gets no new requests. */
    record DrainSet(String url, boolean draining) implements NodeEvent {}

    /**
     * The node was put to sleep ({@code level} 1 or 2, LMDeploy's /sleep) or woken ({@code level} 0): a sleeping node
     * answers 503 to generation, so it gets no new requests.
     */
    record SleepSet(String url, int level) implements NodeEvent {
        public SleepSet {
            if (level < 0 || level > 2) {
                throw new IllegalArgumentException("level: " + level + " (expected: 0 awake, 1 or 2 asleep)");
            }
        }
    }

    /**
     * The node says which weights it serves, in a control stream's load report (a probe's answer comes with its
     * {@link HealthReport}, a stream's registration with its {@link StreamAttached}). A node whose version is not the one the controller expects of it is out of
     * rotation ({@link NodeSnapshot#staleWeights()}).
     */
    record WeightsReported(String url, String version) implements NodeEvent {}

    /**
     * A weight commit succeeded on the node, which now serves {@code version}: from now on that is what it must
     * report, and what nodes of its models that join later must report.
     */
    record WeightsCommitted(String url, String version) implements NodeEvent {}

    /**
     * An operator puts a node that serves other weights than expected back into rotation as it is
     * ({@code /nodes/undrain}): what it reports now becomes what is expected of it.
     */
    record WeightsAccepted(String url) implements NodeEvent {}

    /** Periodic housekeeping: silent control streams are marked down, long-dead stream nodes expire. */
    record Tick() implements NodeEvent {}

    /** The event's name, for logs and metrics. */
    default String name() {
        return getClass().getSimpleName();
    }
}
