package io.tandem.agent.config;

import java.util.Locale;

/**
 * LMDeploy's EngineRole, with its wire integers. A hybrid agent prefills and decodes; a prefill agent keeps the
 * KV cache of {@code preserve_cache} requests for a decode agent to pull; a decode agent starts requests that
 * carry a {@code migration_request} from those pulled blocks. Prefill and decode agents allocate their KV arena
 * through UCX so that peers can read it in place.
 */
public enum EngineRole {
    HYBRID(1), PREFILL(2), DECODE(3);

    private final int wire;

    EngineRole(int wire) {
        this.wire = wire;
    }

    /** LMDeploy's integer: Hybrid=1, Prefill=2, Decode=3. */
    public int wire() {
        return wire;
    }

    /** Whether the KV arena is shared with peers (prefill and decode). */
    public boolean migrates() {
        return this != HYBRID;
    }

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static EngineRole parse(String s) {
        return switch (s == null ? "" : s.strip().toLowerCase(Locale.ROOT)) {
            case "hybrid", "1" -> HYBRID;
            case "prefill", "2" -> PREFILL;
            case "decode", "3" -> DECODE;
            default -> throw new IllegalArgumentException("tandem.agent.role: '" + s
                    + "' (expected: hybrid, prefill or decode)");
        };
    }
}
