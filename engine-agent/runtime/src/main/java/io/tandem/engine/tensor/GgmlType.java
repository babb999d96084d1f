package io.tandem.engine.tensor;

/**
 * The tensor element types that Tandem reads and writes, with GGML's on-disk ids and block geometry.
 *
 * <p>Quantized types store a tensor as consecutive blocks of {@link #blockSize()} elements, each block taking
 * {@link #typeSize()} bytes; a row of {@code n} elements therefore takes {@code n / blockSize * typeSize} bytes
 * and {@code n} must be a multiple of the block size. Float types have a block size of one.
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 2 + 16),
    Q8_0(8, 32, 2 + 32),
    /** Super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit quants. */
    Q4_K(12, 256, 2 + 2 + 12 + 128),
    /** Super-blocks of 256: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, f16 d. */
    Q6_K(14, 256, 128 + 64 + 16 + 2),
    BF16(30, 1, 2);

    private final int id;
    private final int blockSize;
    private final int typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    /** GGML's numeric type id, as written in GGUF tensor infos. */
    public int id() {
        return id;
    }

    /** Elements per block. */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int typeSize() {
        return typeSize;
    }

    public boolean isQuantized() {
        return blockSize > 1;
    }

    /**
     * Bytes taken by {@code elements} consecutive elements.
     *
     * @throws IllegalArgumentException if {@code elements} is not a multiple of the block size
     */
    public long byteSize(long elements) {
        if (elements < 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(
                    "elements: " + elements + " (expected: a non-negative multiple of " + blockSize + " for " + this + ")");
        }
        return elements / blockSize * typeSize;
    }

    /** The type with GGML id {@code id}, or {@code null} when Tandem does not support it. */
    public static GgmlType fromId(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }
}
