package io.tandem.controller;

/** How a request is served: by one hybrid node, or by a prefill node then a decode node (DistServe). */
public enum RoutingMode {
    HYBRID,
    DISTSERVE
}
