package io.tandem.agent.distserve;

/**
 * How a caller proves it belongs to the cluster (the proxy, or a peer agent). {@code http.AuthFilter} decides it
 * for every request and records the answer in the request attribute {@link #ATTRIBUTE}; {@code /distserve/*} is
 * refused there outright, and generation requests that carry DistServe fields check the attribute in
 * {@link DistServeService}.
 *
 * <p>The rule: with a cluster token configured, {@code Authorization: Bearer T} or {@code X-Tandem-Cluster-Token: T}
 * (the second lets a proxy forward a client's API key in {@code Authorization}); without one, loopback callers only.
 */
public final class ClusterAccess {
    /** Request attribute: {@code Boolean.TRUE} when the caller proved cluster membership. */
    public static final String ATTRIBUTE = "tandem.cluster";
    /** Header carrying the cluster token where {@code Authorization} carries a client's API key. */
    public static final String HEADER = "X-Tandem-Cluster-Token";

    private ClusterAccess() {
    }
}
