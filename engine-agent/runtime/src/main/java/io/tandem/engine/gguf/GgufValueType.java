package io.tandem.engine.gguf;

/**
 * The wire types of GGUF metadata values, with their on-disk ids.
 *
 * <p>The type is part of a file's content, not just of its values' Java representation: a reader of
 * {@code tokenizer.ggml.bos_token_id} may expect {@link #UINT32}, so {@link GgufMetadata} remembers the type of
 * every value and {@link GgufWriter} writes exactly the type it is given.
 */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    /** u64 byte length, then that many bytes of UTF-8 (no terminator). */
    STRING(8, 8),
    /** u32 element type, u64 count, then the elements; elements may themselves be arrays. */
    ARRAY(9, 12),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private static final GgufValueType[] BY_ID = values();

    private final int id;
    private final int minEncodedSize;

    GgufValueType(int id, int minEncodedSize) {
        this.id = id;
        this.minEncodedSize = minEncodedSize;
    }

    /** The type's id as written in GGUF files. */
    public int id() {
        return id;
    }

    /** True for the eight integer types, signed or not. */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /**
     * The fewest bytes one value of this type takes on disk (the full size for fixed-size types). The reader
     * bounds element counts with it, so that a corrupt count fails before anything is allocated.
     */
    int minEncodedSize() {
        return minEncodedSize;
    }

    /** The type with GGUF id {@code id}, or {@code null} when the id is not a GGUF value type. */
    public static GgufValueType fromId(long id) {
        // Ids are dense from 0, in declaration order.
        return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
    }
}
