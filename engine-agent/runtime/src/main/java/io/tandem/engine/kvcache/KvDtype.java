package io.tandem.engine.kvcache;

import java.util.Locale;

/**
 * Element type of the KV cache. The embedded engine keeps its cache in F32, which makes its attention exact
 * against the float64 reference; the descriptor names the type so that a peer with another cache type is refused
 * at connect time instead of reading garbage.
 */
public enum KvDtype {
    F32(4);

    private final int bytes;

    KvDtype(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    public static KvDtype parse(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("kv dtype: '" + s + "' (expected: f32)");
        }
    }
}
