package io.tandem.proxy.routing;

/**
 * A node failed one attempt before anything reached the client: the request may move to another node. Internal to
 * the retry loop; what the client sees, if no node is left, is {@link #clientError()}.
 */
final class NodeFailure extends RuntimeException {
    private final String nodeUrl;
    private final RuntimeException clientError;

    NodeFailure(String nodeUrl, RuntimeException clientError) {
        super(clientError.getMessage(), clientError, false, false);
        this.nodeUrl = nodeUrl;
        this.clientError = clientError;
    }

    String nodeUrl() {
        return nodeUrl;
    }

    RuntimeException clientError() {
        return clientError;
    }
}
