package io.tandem.controller.registry;

import java.util.Locale;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import io.tandem.controller.errors.InvalidNodeException;

/** LMDeploy's EngineRole; an integer on the wire (Hybrid=1, Prefill=2, Decode=3). */
public enum EngineRole {
    HYBRID(1),
    PREFILL(2),
    DECODE(3);

    private final int wire;

    EngineRole(int wire) {
        this.wire = wire;
    }

    @JsonValue
    public int wire() {
        return wire;
    }

    @JsonCreator
    public static EngineRole fromWire(int value) {
        for (EngineRole r : values()) {
            if (r.wire == value) {
                return r;
            }
        }
        throw new InvalidNodeException("role: " + value + " (expected: 1 Hybrid, 2 Prefill or 3 Decode)");
    }

    /** Parses "prefill", "Prefill", "PREFILL" or "2". */
    public static EngineRole parse(String text) {
        String t = text.trim();
        if (!t.isEmpty() && Character.isDigit(t.charAt(0))) {
            try {
                return fromWire(Integer.parseInt(t));
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        try {
            return valueOf(t.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InvalidNodeException("role: '" + text + "' (expected: hybrid, prefill or decode)");
        }
    }

    /** LMDeploy's display name ("Hybrid", "Prefill", "Decode"). */
    public String displayName() {
        return name().charAt(0) + name().substring(1).toLowerCase(Locale.ROOT);
    }
}
