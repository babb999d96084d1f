package io.tandem.controller.admin;

import java.util.concurrent.CompletableFuture;

/**
 * HTTP calls to a node's management API (LMDeploy's agent-level {@code /update_weights}, {@code /sleep},
 * {@code /wakeup}, {@code /is_sleeping}). Every node has these over HTTP, attached or not; the weights themselves
 * always travel this way (cluster_control.proto's UpdateWeightsCommand is a notice only: a control stream that
 * carries heartbeats is no place for hundreds of megabytes).
 *
 * <p>Implementations are thread-safe and never block the caller.
 */
public interface NodeAdminClient {
    /**
     * POSTs {@code body} (JSON, may be empty) to {@code nodeUrl + pathAndQuery}. Completes with the node's answer
     * whatever its status; fails with {@link io.tandem.controller.errors.AgentCallException} when no answer came
     * (refused, reset, timed out).
     */
    CompletableFuture<NodeAnswer> post(String nodeUrl, String pathAndQuery, byte[] body);

    /** GETs {@code nodeUrl + pathAndQuery}; completes and fails as {@link #post} does. */
    CompletableFuture<NodeAnswer> get(String nodeUrl, String pathAndQuery);

    /** A node's answer: HTTP status and body text. */
    record NodeAnswer(int status, String body) {
        public boolean ok() {
            return status / 100 == 2;
        }

        /** The body, cut to {@code max} characters for messages. */
        public String shortBody(int max) {
            return body.length() > max ? body.substring(0, max) + "..." : body;
        }
    }
}
