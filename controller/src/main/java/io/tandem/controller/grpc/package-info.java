/**
 * The {@code tandem.ClusterControl} gRPC service: agents attach with one bidirectional stream, register, report load
 * every second and receive {@link io.tandem.controller.grpc.NodeCommand}s. Protocol and status codes:
 * {@code proto/src/main/protobuf/tandem/cluster_control.proto}. Agents implement the client side with the generated
 * stubs of tandem-proto (the agent module does not depend on the controller).
 */
package io.tandem.controller.grpc;
