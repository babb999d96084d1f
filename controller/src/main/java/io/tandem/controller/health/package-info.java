/**
 * Node health: HTTP probes of nodes without a control stream ({@link io.tandem.controller.health.HealthChecker}) and
 * the per-node {@link io.tandem.controller.health.CircuitBreaker}. Depends on nothing else in the controller.
 */
package io.tandem.controller.health;
