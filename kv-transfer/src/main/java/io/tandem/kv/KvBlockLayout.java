package io.tandem.kv;

import io.tandem.kv.errors.LayoutMismatchException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The layout of one KV block, as kv-transfer sees it: a block is one contiguous region
 * <pre>
 *   (num_layers, 2 [k|v], num_kv_heads, block_size, head_dim) in dtype, row-major
 * </pre>
 * and block {@code b} of an arena lives at {@code base + b * blockBytes()}. This mirrors the engine runtime's
 * {@code KvLayout} without depending on it: the agent converts with
 * {@code KvBlockLayout.fromFields(kvLayout.fields())}; the field names ({@link #fields()}) are the same.
 *
 * <p>Immutable and thread-safe.
 *
 * @param dtype element type, lower case: {@code f32}, {@code f16} or {@code bf16}
 */
public record KvBlockLayout(String dtype, int numLayers, int numKvHeads, int headDim, int blockSize) {

    public KvBlockLayout {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype: null (expected: f32, f16 or bf16)");
        }
        dtype = dtype.toLowerCase(Locale.ROOT);
        dtypeBytes(dtype);
        checkPositive("numLayers", numLayers);
        checkPositive("numKvHeads", numKvHeads);
        checkPositive("headDim", headDim);
        checkPositive("blockSize", blockSize);
        // Guard the derived sizes against overflow once, here, so that every stride below is exact.
        Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(Math.multiplyExact(
                (long) numLayers * 2, numKvHeads), blockSize), headDim), dtypeBytes(dtype));
    }

    private static int dtypeBytes(String dtype) {
        return switch (dtype) {
            case "f32" -> 4;
            case "f16", "bf16" -> 2;
            default -> throw new IllegalArgumentException("dtype: " + dtype + " (expected: f32, f16 or bf16)");
        };
    }

    private static void checkPositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: > 0)");
        }
    }

    /** Bytes between consecutive token positions of one (layer, k|v, head). */
    public long tokenStride() {
        return (long) headDim * dtypeBytes(dtype);
    }

    /** Bytes between consecutive kv heads of one (layer, k|v). */
    public long headStride() {
        return tokenStride() * blockSize;
    }

    /** Bytes between the K and the V half of one layer. */
    public long kvStride() {
        return headStride() * numKvHeads;
    }

    /** Bytes between consecutive layers. */
    public long layerStride() {
        return kvStride() * 2;
    }

    /** Bytes of one block. */
    public long blockBytes() {
        return layerStride() * numLayers;
    }

    /** The wire form: ordered snake_case fields, identical in names and values to the runtime's KvLayout. */
    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dtype", dtype);
        m.put("num_layers", numLayers);
        m.put("num_kv_heads", numKvHeads);
        m.put("head_dim", headDim);
        m.put("block_size", blockSize);
        m.put("block_bytes", blockBytes());
        m.put("layer_stride", layerStride());
        m.put("kv_stride", kvStride());
        m.put("head_stride", headStride());
        m.put("token_stride", tokenStride());
        return m;
    }

    /**
     * Parses the form written by {@link #fields()} (or the runtime's {@code KvLayout.fields()}). Strides, when
     * given, must equal the ones derived from the geometry.
     */
    public static KvBlockLayout fromFields(Map<String, ?> f) {
        Object dtype = f.get("dtype");
        KvBlockLayout layout = new KvBlockLayout(dtype == null ? null : dtype.toString(),
                intField(f, "num_layers"), intField(f, "num_kv_heads"), intField(f, "head_dim"),
                intField(f, "block_size"));
        Map<String, Object> derived = layout.fields();
        for (String key : new String[] {"block_bytes", "layer_stride", "kv_stride", "head_stride", "token_stride"}) {
            Object given = f.get(key);
            if (given != null && (!(given instanceof Number n) || n.longValue() != (long) derived.get(key))) {
                throw new IllegalArgumentException(key + ": " + given + " (expected: " + derived.get(key)
                        + " for " + layout + ")");
            }
        }
        return layout;
    }

    private static int intField(Map<String, ?> f, String name) {
        Object v = f.get(name);
        if (!(v instanceof Number n) || n.longValue() != n.intValue()) {
            throw new IllegalArgumentException(name + ": " + v + " (expected: an integer)");
        }
        return n.intValue();
    }

    /** The first field that differs from {@code remote}, as the exception {@link #checkCompatible} would throw. */
    public Optional<LayoutMismatchException> mismatch(KvBlockLayout remote) {
        Map<String, Object> mine = fields();
        Map<String, Object> theirs = remote.fields();
        for (var e : mine.entrySet()) {
            Object other = theirs.get(e.getKey());
            if (!e.getValue().equals(other)) {
                return Optional.of(new LayoutMismatchException(e.getKey(), e.getValue(), other));
            }
        }
        return Optional.empty();
    }

    /** Throws {@link LayoutMismatchException} naming the first differing field, if any. */
    public void checkCompatible(KvBlockLayout remote) {
        Optional<LayoutMismatchException> m = mismatch(remote);
        if (m.isPresent()) {
            throw m.get();
        }
    }
}
