/**
 * Tandem's controller, as a library: the {@link io.tandem.controller.Controller} facade over the node registry,
 * health checks, routing strategies, DistServe pairing, Consul discovery and the ClusterControl gRPC service.
 * The proxy uses only this package (and the records and exceptions it returns).
 */
package io.tandem.controller;
