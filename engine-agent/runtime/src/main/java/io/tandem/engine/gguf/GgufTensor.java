package io.tandem.engine.gguf;

import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor of a {@link GgufFile}: its name, element type, shape, and its bytes as a read-only slice of the
 * file's mapping.
 *
 * <p>The shape is in ggml order: {@code shape[0]} is the contiguous (fastest-varying) dimension, i.e. the
 * length of a row, so a matrix of {@code rows()} rows by {@code columns()} columns is stored row after row
 * (a Llama {@code token_embd.weight} of shape {@code [dim, vocab]} is {@code vocab} rows of {@code dim}).
 * For quantized types a row is a whole number of blocks.
 *
 * <p>Immutable and thread-safe, but {@link #data()} is only valid until its {@link GgufFile} is closed.
 *
 * @param name the tensor's name, e.g. {@code blk.0.attn_q.weight}
 * @param type the element type
 * @param shape the dimensions, 1 to 4 of them, each {@code > 0}, in ggml order
 * @param offset where the bytes start, relative to the file's data section
 * @param data exactly the tensor's bytes, {@code type.byteSize(elementCount())} of them
 */
public record GgufTensor(String name, GgmlType type, long[] shape, long offset, MemorySegment data) {

    public GgufTensor {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        shape = Objects.requireNonNull(shape, "shape").clone();
    }

    /** A copy of the dimensions, in ggml order. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Dimension {@code i} in ggml order (0 is the row length). */
    public long dim(int i) {
        return shape[i];
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d; // the reader has checked that the product does not overflow
        }
        return n;
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** The number of rows: the product of {@code shape[1..]}; 1 for a vector. */
    public long rows() {
        return elementCount() / shape[0];
    }

    /** The row length, {@code shape[0]}. */
    public long columns() {
        return shape[0];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensor t && t.name.equals(name) && t.type == type && Arrays.equals(t.shape, shape)
                && t.offset == offset && t.data.equals(data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, type, Arrays.hashCode(shape), offset);
    }

    @Override
    public String toString() {
        return "GgufTensor[" + name + ", " + type + ", shape=" + Arrays.toString(shape) + ", offset=" + offset
                + ", bytes=" + data.byteSize() + "]";
    }
}
