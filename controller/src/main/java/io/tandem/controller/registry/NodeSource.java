package io.tandem.controller.registry;

/** How a node entered the pool; decides who may remove it and whether it is persisted. */
public enum NodeSource {
    /** {@code POST /nodes/add} or the state file; health-checked over HTTP; persisted. */
    STATIC,
    /** Registered on a ClusterControl stream; persisted so that a restarted proxy keeps it until it reattaches. */
    STREAM,
    /** Found in the Consul catalog; Consul is its source of truth, so it is not persisted. */
    CONSUL
}
