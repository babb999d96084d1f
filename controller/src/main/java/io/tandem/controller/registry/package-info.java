/**
 * The node pool: {@link io.tandem.controller.registry.NodeRegistry} (one owner thread applying
 * {@link io.tandem.controller.registry.NodeEvent}s, immutable {@link io.tandem.controller.registry.NodeSnapshot}s for
 * readers), LMDeploy's {@link io.tandem.controller.registry.NodeStatus}, and the {@link
 * io.tandem.controller.registry.StateFile} that keeps the node list across restarts.
 */
package io.tandem.controller.registry;
