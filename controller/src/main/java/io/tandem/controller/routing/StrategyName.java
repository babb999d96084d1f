package io.tandem.controller.routing;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The routing strategies by their wire names (LMDeploy's three first). */
public enum StrategyName {
    RANDOM("random"),
    MIN_EXPECTED_LATENCY("min_expected_latency"),
    MIN_OBSERVED_LATENCY("min_observed_latency"),
    LEAST_LOADED("least_loaded"),
    POWER_OF_TWO("power_of_two"),
    PREFIX_AWARE("prefix_aware");

    private final String wireName;

    StrategyName(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }

    /** Parses a wire name ("min_expected_latency", case-insensitive, '-' allowed for '_'). */
    public static StrategyName parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        for (StrategyName s : values()) {
            if (s.wireName.equals(t)) {
                return s;
            }
        }
        throw new IllegalArgumentException("strategy: '" + text + "' (expected one of: "
                + Arrays.stream(values()).map(StrategyName::wireName).collect(Collectors.joining(", ")) + ")");
    }
}
