package io.tandem.controller.registry;

/**
 * Told of changes that other parts of the controller must act on. Called on the registry's owner thread after the
 * change is applied; implementations must not block.
 */
public interface RegistryListener {
    /** The node left the pool (removed by an operator, by discovery or by expiry). */
    default void nodeRemoved(NodeSnapshot removed) {}

    /** The node went from routable health to UNHEALTHY. */
    default void nodeDown(NodeSnapshot node, String reason) {}
}
