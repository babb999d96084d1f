package io.tandem.engine.kvcache;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Describes how one KV-cache block is laid out in memory. It travels with migrated blocks, so that the engine
 * that receives raw bytes can check that it will read them the way the sender wrote them.
 *
 * <p>A block holds {@code blockSize} consecutive token positions of every layer:
 * <pre>
 *   (n_layers, 2 [k|v], n_kv_heads, block_size, head_dim) in {@link #dtype()}, row-major
 * </pre>
 * so one block is one contiguous region of {@link #blockBytes()} bytes and the arena is {@code num_blocks}
 * such regions back to back. Within a block, the keys of one (layer, kv head) are {@code block_size * head_dim}
 * contiguous elements, which lets attention stream them with vector loads.
 *
 * <p>Immutable and thread-safe.
 */
public record KvLayout(KvDtype dtype, int nLayers, int nKvHeads, int headDim, int blockSize) {

    public KvLayout {
        if (dtype == null) {
            throw new IllegalArgumentException("dtype: null (expected: F32)");
        }
        checkPositive("nLayers", nLayers);
        checkPositive("nKvHeads", nKvHeads);
        checkPositive("headDim", headDim);
        checkPositive("blockSize", blockSize);
    }

    private static void checkPositive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: > 0)");
        }
    }

    /** Bytes between consecutive token positions of one (layer, k|v, head). */
    public long tokenStride() {
        return (long) headDim * dtype.bytes();
    }

    /** Bytes between consecutive kv heads of one (layer, k|v). */
    public long headStride() {
        return tokenStride() * blockSize;
    }

    /** Bytes between the K and the V half of one layer. */
    public long kvStride() {
        return headStride() * nKvHeads;
    }

    /** Bytes between consecutive layers. */
    public long layerStride() {
        return kvStride() * 2;
    }

    /** Bytes of one block: every layer, K and V, every kv head, {@code blockSize} positions. */
    public long blockBytes() {
        return layerStride() * nLayers;
    }

    /** Byte offset, inside a block, of position {@code slot} of (layer, k|v, kv head). */
    public long offsetInBlock(int layer, int kv, int kvHead, int slot) {
        return layer * layerStride() + kv * kvStride() + kvHead * headStride() + slot * tokenStride();
    }

    /**
     * The first field that differs between this layout and {@code other}, as a message such as
     * {@code "block_size: 64 here, 32 on the peer"}, or empty when the two can exchange blocks.
     */
    public Optional<String> mismatch(KvLayout other) {
        Map<String, Object> mine = fields();
        Map<String, Object> theirs = other.fields();
        for (var e : mine.entrySet()) {
            Object o = theirs.get(e.getKey());
            if (!e.getValue().equals(o)) {
                return Optional.of(e.getKey() + ": " + e.getValue() + " here, " + o + " on the peer");
            }
        }
        return Optional.empty();
    }

    /** The layout as ordered snake_case fields, the form in which it travels on the wire. */
    public Map<String, Object> fields() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dtype", dtype.name().toLowerCase(java.util.Locale.ROOT));
        m.put("num_layers", nLayers);
        m.put("num_kv_heads", nKvHeads);
        m.put("head_dim", headDim);
        m.put("block_size", blockSize);
        m.put("block_bytes", blockBytes());
        m.put("layer_stride", layerStride());
        m.put("kv_stride", kvStride());
        m.put("head_stride", headStride());
        m.put("token_stride", tokenStride());
        return m;
    }

    /** Parses the form written by {@link #fields()}; strides are re-derived and checked against the given ones. */
    public static KvLayout fromFields(Map<String, ?> f) {
        KvLayout layout = new KvLayout(
                KvDtype.parse(String.valueOf(f.get("dtype"))),
                intField(f, "num_layers"), intField(f, "num_kv_heads"), intField(f, "head_dim"),
                intField(f, "block_size"));
        Object bytes = f.get("block_bytes");
        if (bytes != null && ((Number) bytes).longValue() != layout.blockBytes()) {
            throw new IllegalArgumentException("block_bytes: " + bytes + " (expected: " + layout.blockBytes()
                    + " for " + layout + ")");
        }
        return layout;
    }

    private static int intField(Map<String, ?> f, String name) {
        Object v = f.get(name);
        if (!(v instanceof Number n)) {
            throw new IllegalArgumentException(name + ": " + v + " (expected: an integer)");
        }
        return Math.toIntExact(n.longValue());
    }
}
