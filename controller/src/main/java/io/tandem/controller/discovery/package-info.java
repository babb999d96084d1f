/**
 * Consul discovery: the controller watches the catalog for the agent service and adds and removes nodes
 * ({@link io.tandem.controller.discovery.ConsulDiscovery}); the registration format agents follow is
 * {@link io.tandem.controller.discovery.ConsulServiceFormat}.
 */
package io.tandem.controller.discovery;
