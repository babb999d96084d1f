package io.tandem.controller;

import java.util.List;

import io.tandem.controller.pairing.PairInfo;
import io.tandem.controller.registry.NodeSnapshot;

/**
 * Where one request goes. Every node in {@link #nodeUrls()} has had its unfinished count raised by the pick; the
 * caller must settle each exactly once with {@link Controller#recordLatency} (success) or
 * {@link Controller#markFailure} (the node failed the request).
 */
public sealed interface Route {
    List<String> nodeUrls();

    /** One node does the whole request. */
    record Hybrid(NodeSnapshot node) implements Route {
        @Override
        public List<String> nodeUrls() {
            return List.of(node.url());
        }
    }

    /** Prefill on {@code prefill}, then decode on {@code decode}; the pair is connected. */
    record Disaggregated(NodeSnapshot prefill, NodeSnapshot decode, PairInfo pair) implements Route {
        @Override
        public List<String> nodeUrls() {
            return List.of(prefill.url(), decode.url());
        }
    }
}
