package io.tandem.engine.kernels;

import io.tandem.engine.tensor.GgmlType;
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
 * @param type element encoding
 * @param rows output dimension
 * @param cols input (reduction) dimension, a multiple of {@code type.blockSize()}
 * @param data exactly {@code rows * rowBytes()} bytes
 */
public record WeightMatrix(GgmlType type, int rows, int cols, MemorySegment data) {

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
    }

    /** Wraps {@code data} as a {@code [rows, cols]} matrix of {@code type}; see the record's checks. */
    public static WeightMatrix of(GgmlType type, int rows, int cols, MemorySegment data) {
        return new WeightMatrix(type, rows, cols, data);
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
