/**
 * Routing strategies as pure, seeded classes ({@link io.tandem.controller.routing.Strategies},
 * {@link io.tandem.controller.routing.PrefixAwareStrategy}) and the filter in front of them
 * ({@link io.tandem.controller.routing.NodeSelector}). Reads registry snapshots only.
 */
package io.tandem.controller.routing;
