package io.tandem.engine.kernels;

import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * An immutable 2-D weight matrix {@code [rows, cols]} (GGML shape {@code [cols, rows]}) stored row-major in GGML's
 * encoding: row {@code r} occupies {@code rowBytes()} bytes starting at {@code r * rowBytes()} of {@link #data()}.
 *
 * <p>The data stays where it is — typically a read-only slice of a memory-mapped GGUF file — and is never copied to
 * the heap; kernels decode it on the fly. Thread-safe: the view itself is immutable (whoever owns the segment must
 * keep it alive and unchanged while the matrix is in use).
 *
 * <p>A Q8_0 matrix may also carry {@code decodeTiles}: the same values repacked once for the batch-1 decode kernel
 * ({@link #withDecodeTiles()}; the layout is the kernels' business and not specified here). The batch-1 decode reads
 * only the tiles; every other path (batches, prefill, row lookups) still reads {@code data}. Whoever writes into
 * {@code data} must do so before packing: the tiles are a copy and are not updated.
 *
 * @param type        element encoding
 * @param rows        output dimension
 * @param cols        input (reduction) dimension, a multiple of {@code type.blockSize()}
 * @param data        exactly {@code rows * rowBytes()} bytes
 * @param decodeTiles null, or the kernels' tiled copy of {@code data}
 */
public record WeightMatrix(GgmlType type, int rows, int cols, MemorySegment data, MemorySegment decodeTiles) {

    /**
     * Whether {@link #withDecodeTiles()} packs (Q8_0 only, and only where the vector width suits the kernel);
     * {@code -Dtandem.matmul.q8Tiles=false} turns it off for comparisons.
     */
    private static final boolean Q8_TILES = Boolean.parseBoolean(System.getProperty("tandem.matmul.q8Tiles", "true"));

    public WeightMatrix {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        if (rows < 1) {
            throw new IllegalArgumentException("rows: " + rows + " (expected: >= 1)");
        }
        if (cols < 1 || cols % type.blockSize() != 0) {
            throw new IllegalArgumentException(
                    "cols: " + cols + " (expected: positive multiple of " + type.blockSize() + " for " + type + ")");
        }
        long expected = rows * type.byteSize(cols);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("data: " + data.byteSize() + " bytes (expected: " + expected
                    + " for " + type + " [" + rows + ", " + cols + "])");
        }
        if (decodeTiles != null && (type != GgmlType.Q8_0
                || decodeTiles.byteSize() != (rows + Q8Tiles.ROWS - 1) / Q8Tiles.ROWS * Q8Tiles.tileBytes(cols))) {
            throw new IllegalArgumentException("decodeTiles: " + decodeTiles.byteSize() + " bytes for " + type + " ["
                    + rows + ", " + cols + "] (expected: Q8_0 only, as packed by withDecodeTiles)");
        }
    }

    /** Wraps {@code data} as a {@code [rows, cols]} matrix of {@code type}; see the record's checks. */
    public static WeightMatrix of(GgmlType type, int rows, int cols, MemorySegment data) {
        return new WeightMatrix(type, rows, cols, data, null);
    }

    /**
     * This matrix with a copy of its weights in the batch-1 decode kernel's layout (Q8_0: 16-row tiles in huge-page
     * memory, the same size as {@code data}), or this matrix itself where there is none (other types, vector widths
     * other than 512 bits, an Inf or NaN block scale, {@code -Dtandem.matmul.q8Tiles=false}, or already packed). Call it once the data is final.
     * Costs one pass over the data. The copy is freed by the garbage collector once unreachable; code that must
     * release it at a known time (unmapping a model) uses {@link #withDecodeTiles(Arena)}.
     */
    public WeightMatrix withDecodeTiles() {
        return withDecodeTiles(Arena.ofAuto());
    }

    /**
     * An arena for {@link #withDecodeTiles(Arena)} that packs many matrices' copies into shared huge-page chunks of
     * 32 MiB (each copy in a mapping of its own would take at least a 2 MiB page, doubling a small model's footprint),
     * all freed when {@code owner} closes. Closing the returned arena itself is not supported.
     */
    public static Arena decodeTileArena(Arena owner) {
        return new HugePages.Slab(Objects.requireNonNull(owner, "owner"));
    }

    /**
     * As {@link #withDecodeTiles()}, the copy's memory owned by {@code owner}: freed when it closes, after which the
     * returned matrix must not be used (give it the lifetime of {@code data}, e.g. the model file's mapping).
     */
    public WeightMatrix withDecodeTiles(Arena owner) {
        Objects.requireNonNull(owner, "owner");
        if (!Q8_TILES || type != GgmlType.Q8_0 || decodeTiles != null || !Q8Tiles.supported()) {
            return this;
        }
        MemorySegment tiles = Q8Tiles.pack(this, owner);
        return tiles == null ? this : new WeightMatrix(type, rows, cols, data, tiles);
    }

    /** Bytes per row. */
    public long rowBytes() {
        return type.byteSize(cols);
    }

    /** Byte offset of row {@code r} in {@link #data()}. */
    public long rowOffset(int r) {
        return r * rowBytes();
    }
}
