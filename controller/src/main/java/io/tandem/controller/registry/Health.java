package io.tandem.controller.registry;

/** Whether a node is reachable, as last seen by a probe, its control stream or a failed request. */
public enum Health {
    /** Just added, not probed yet; routable (as in LMDeploy) until the first check, which runs at once. */
    UNKNOWN,
    HEALTHY,
    /** Out of rotation at once, until a probe or a load report says otherwise. */
    UNHEALTHY
}
