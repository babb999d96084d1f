/**
 * The agent's side of the control plane: {@link io.tandem.agent.control.ControllerLink} attaches to the
 * controller's {@code tandem.ClusterControl/Attach} stream (registration, a load report every interval, commands
 * answered with results) and reconnects with backoff when the stream breaks. Uses only the stubs generated in
 * tandem-proto; the agent never depends on the controller module.
 */
package io.tandem.agent.control;
