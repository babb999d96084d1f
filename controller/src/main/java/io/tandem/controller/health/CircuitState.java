package io.tandem.controller.health;

/** The three states of a {@link CircuitBreaker}, named as in /nodes/status. */
public enum CircuitState {
    /** Traffic flows. */
    CLOSED,
    /** The node is kept out of rotation until the open period ends. */
    OPEN,
    /** The open period ended: the node may be tried; one success closes the circuit, one failure reopens it longer. */
    HALF_OPEN;

    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
