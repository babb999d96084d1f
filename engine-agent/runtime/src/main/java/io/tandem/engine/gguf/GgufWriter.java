package io.tandem.engine.gguf;

import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Builds a GGUF v3 file: metadata with explicit wire types, then tensors whose bytes are pulled from a
 * {@link TensorSource} only while the file is written.
 *
 * <p><b>Layout</b> is the one llama.cpp writes, so that copying a llama.cpp file through this writer reproduces
 * it byte for byte: header, metadata in insertion order, tensor infos in insertion order, zero padding to the
 * alignment, then each tensor's bytes followed by zero padding to the alignment. Tensor offsets are assigned in
 * insertion order. Alignment is 32 unless {@code general.alignment} (a {@code UINT32} power of two) is put.
 * Nothing depends on time or randomness, so the same inputs give the same bytes.
 *
 * <p><b>Atomicity.</b> {@link #write} writes a temporary file beside the target, forces it to disk and renames
 * it over the target, so a reader never sees a half-written model, even if the writer crashes.
 *
 * <p>Putting a key again replaces its value and type but keeps its original position. Argument problems
 * (a value out of its type's range, a shape that is not whole blocks) throw {@link IllegalArgumentException} at
 * the put or add, not at write.
 *
 * <p>Not thread-safe: build and write from one thread.
 */
public final class GgufWriter {
    private static final int VERSION = 3;

    private final LinkedHashMap<String, GgufValue> metadata = new LinkedHashMap<>();
    private final LinkedHashMap<String, PendingTensor> tensors = new LinkedHashMap<>();

    private record PendingTensor(String name, GgmlType type, long[] shape, long byteSize, TensorSource source) {}

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, value);
    }

    /** @param value in {@code [0, 2^32)} */
    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    /** @param value the bit pattern; negative values stand for 2^63 and above */
    public GgufWriter putUInt64(String key, long value) {
        return put(key, GgufValueType.UINT64, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    public GgufWriter putStringArray(String key, String... values) {
        return putArray(key, GgufArray.ofStrings(values));
    }

    public GgufWriter putInt32Array(String key, int... values) {
        return putArray(key, GgufArray.ofInt32(values));
    }

    public GgufWriter putFloat32Array(String key, float... values) {
        return putArray(key, GgufArray.ofFloat32(values));
    }

    public GgufWriter putArray(String key, GgufArray value) {
        return put(key, GgufValueType.ARRAY, value);
    }

    /**
     * Puts {@code value} to be written as {@code type}. Integer types take a {@code Byte}, {@code Short},
     * {@code Integer} or {@code Long} within the type's range ({@code UINT64} takes any {@code Long} as a bit
     * pattern); {@code FLOAT32} a {@code Float}; {@code FLOAT64} a {@code Double} or {@code Float}; {@code BOOL}
     * a {@code Boolean}; {@code STRING} a {@code String}; {@code ARRAY} a {@link GgufArray}.
     *
     * @throws IllegalArgumentException if the value does not fit the type, or {@code general.alignment} is not a
     *     {@code UINT32} power of two
     */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        checkKey(key);
        GgufValue v;
        try {
            v = GgufValue.of(type, value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("metadata key '" + key + "': " + e.getMessage(), e);
        }
        if (key.equals(GgufMetadata.ALIGNMENT)) {
            long a = v.value() instanceof Long l ? l : 0;
            if (type != GgufValueType.UINT32 || Long.bitCount(a) != 1) {
                throw new IllegalArgumentException(GgufMetadata.ALIGNMENT + ": " + value + " as " + type
                        + " (expected: a UINT32 power of two)");
            }
        }
        metadata.put(key, v);
        return this;
    }

    /** Puts every entry of {@code source} with its exact wire type, e.g. to rewrite a model's metadata. */
    public GgufWriter putAll(GgufMetadata source) {
        for (String key : source.keys()) {
            GgufValueType type = source.valueType(key);
            put(key, type, type == GgufValueType.ARRAY ? source.getArray(key) : source.get(key));
        }
        return this;
    }

    /**
     * Adds a tensor whose bytes {@code source} writes when the file is written.
     *
     * @param shape 1 to 4 dimensions, each {@code > 0}, in ggml order ({@code shape[0]} is the row length, which
     *     must be a multiple of {@code type}'s block size)
     * @throws IllegalArgumentException if the name is taken or the shape is invalid
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorSource source) {
        Objects.requireNonNull(source, "source");
        long[] dims = checkedShape(name, type, shape);
        tensors.put(name, new PendingTensor(name, type, dims, byteSize(type, dims), source));
        return this;
    }

    /**
     * Adds a tensor whose bytes are {@code data}, read at write time: it must stay valid and unchanged until
     * then.
     *
     * @throws IllegalArgumentException also if {@code data} is not exactly the tensor's byte size
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, MemorySegment data) {
        Objects.requireNonNull(data, "data");
        long expected = byteSize(type, checkedShape(name, type, shape));
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor '" + name + "': data.byteSize(): " + data.byteSize()
                    + " (expected: " + expected + " for " + type + " " + Arrays.toString(shape) + ")");
        }
        return addTensor(name, type, shape, TensorSource.of(data));
    }

    /** Adds a tensor whose bytes are {@code data}, not copied: it must not change until the write. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, byte[] data) {
        return addTensor(name, type, shape, MemorySegment.ofArray(Objects.requireNonNull(data, "data")));
    }

    /**
     * Writes the file atomically: to a temporary file in {@code path}'s directory, then renamed over
     * {@code path}. On failure the temporary file is deleted and {@code path} is untouched.
     *
     * @throws IllegalStateException if a {@link TensorSource} wrote a different number of bytes than its tensor
     *     takes
     */
    public void write(Path path) throws IOException {
        Path target = path.toAbsolutePath();
        Path tmp = target.resolveSibling("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        try {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                writeTo(out);
                out.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (Throwable t) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                t.addSuppressed(suppressed);
            }
            throw t;
        }
    }

    private void writeTo(WritableByteChannel out) throws IOException {
        long alignment = metadata.get(GgufMetadata.ALIGNMENT) instanceof GgufValue v
                ? (Long) v.value() : GgufParser.DEFAULT_ALIGNMENT;
        List<PendingTensor> order = new ArrayList<>(tensors.values());

        Header h = new Header();
        h.u32(GgufParser.MAGIC);
        h.u32(VERSION);
        h.u64(order.size());
        h.u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            h.string(e.getKey());
            h.u32(e.getValue().type().id());
            h.value(e.getValue().type(), e.getValue().value());
        }
        long offset = 0;
        for (PendingTensor t : order) {
            h.string(t.name);
            h.u32(t.shape.length);
            for (long d : t.shape) {
                h.u64(d);
            }
            h.u32(t.type.id());
            h.u64(offset);
            offset = GgufParser.alignUp(offset + t.byteSize, alignment);
        }
        long position = h.writeTo(out);
        position = pad(out, position, alignment);
        for (PendingTensor t : order) {
            CountingChannel counted = new CountingChannel(out, t);
            t.source.writeTo(counted);
            if (counted.count != t.byteSize) {
                throw new IllegalStateException("tensor '" + t.name + "': source wrote " + counted.count
                        + " bytes (expected: " + t.byteSize + ")");
            }
            position = pad(out, position + t.byteSize, alignment);
        }
    }

    private static long pad(WritableByteChannel out, long position, long alignment) throws IOException {
        long aligned = GgufParser.alignUp(position, alignment);
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(aligned - position, 1 << 16));
        for (long left = aligned - position; left > 0; left -= zeros.limit()) {
            zeros.clear().limit((int) Math.min(left, zeros.capacity()));
            writeFully(out, zeros);
        }
        return aligned;
    }

    private static void writeFully(WritableByteChannel out, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            out.write(buf);
        }
    }

    private long[] checkedShape(String name, GgmlType type, long[] shape) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(shape, "shape");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("name: \"\" (expected: non-empty)");
        }
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException("name: '" + name + "' (expected: a name not yet added)");
        }
        long[] dims = shape.clone();
        if (dims.length < 1 || dims.length > GgufParser.MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "': shape.length: " + dims.length
                    + " (expected: 1.." + GgufParser.MAX_DIMS + ")");
        }
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] <= 0) {
                throw new IllegalArgumentException(
                        "tensor '" + name + "': shape[" + i + "]: " + dims[i] + " (expected: > 0)");
            }
        }
        // ggml stores quantized tensors row by row, so each row must be whole blocks.
        if (dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor '" + name + "': shape[0]: " + dims[0]
                    + " (expected: a multiple of " + type + "'s block size " + type.blockSize() + ")");
        }
        try {
            byteSize(type, dims);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(
                    "tensor '" + name + "': shape: " + Arrays.toString(dims) + " (expected: under 2^63 bytes)");
        }
        return dims;
    }

    private static long byteSize(GgmlType type, long[] dims) {
        long elements = 1;
        for (long d : dims) {
            elements = Math.multiplyExact(elements, d);
        }
        return Math.multiplyExact(elements / type.blockSize(), (long) type.typeSize());
    }

    private static void checkKey(String key) {
        Objects.requireNonNull(key, "key");
        if (key.isEmpty()) {
            throw new IllegalArgumentException("key: \"\" (expected: non-empty)");
        }
    }

    /** Passes a source's writes through, counting them and refusing any past the tensor's size. */
    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel out;
        private final PendingTensor tensor;
        private long count;
        private boolean open = true;

        CountingChannel(WritableByteChannel out, PendingTensor tensor) {
            this.out = out;
            this.tensor = tensor;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            if (!open) {
                throw new ClosedChannelException();
            }
            if (src.remaining() > tensor.byteSize - count) {
                // Refuse rather than truncate: extra bytes would shift every later tensor off its offset.
                throw new IllegalStateException("tensor '" + tensor.name + "': source wrote more than "
                        + tensor.byteSize + " bytes");
            }
            int n = out.write(src);
            count += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        /** Closing only stops this view; the file channel belongs to the writer. */
        @Override
        public void close() {
            open = false;
        }
    }

    /** The header, metadata and tensor infos, encoded little-endian into a growable heap buffer. */
    private static final class Header {
        private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private ByteBuffer room(int n) {
            if (buf.remaining() < n) {
                long needed = (long) buf.position() + n;
                int capacity = (int) Math.min(Integer.MAX_VALUE - 8, Math.max(needed, 2L * buf.capacity()));
                if (capacity < needed) {
                    throw new IllegalStateException("GGUF header exceeds " + capacity + " bytes");
                }
                buf = ByteBuffer.allocate(capacity).order(ByteOrder.LITTLE_ENDIAN).put(buf.flip());
            }
            return buf;
        }

        void u8(int v) {
            room(1).put((byte) v);
        }

        void u16(int v) {
            room(2).putShort((short) v);
        }

        void u32(int v) {
            room(4).putInt(v);
        }

        void u64(long v) {
            room(8).putLong(v);
        }

        void string(String s) {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            u64(utf8.length);
            room(utf8.length).put(utf8);
        }

        void value(GgufValueType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> u8((Integer) v);
                case UINT16, INT16 -> u16((Integer) v);
                case UINT32 -> u32((int) (long) (Long) v);
                case INT32 -> u32((Integer) v);
                case UINT64, INT64 -> u64((Long) v);
                case FLOAT32 -> room(4).putFloat((Float) v);
                case FLOAT64 -> room(8).putDouble((Double) v);
                case BOOL -> u8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> array((GgufArray) v);
            }
        }

        private void array(GgufArray a) {
            GgufValueType type = a.elementType();
            u32(type.id());
            u64(a.length());
            switch (a.rawValues()) {
                case int[] xs -> {
                    for (int x : xs) {
                        value(type, x);
                    }
                }
                case long[] xs -> {
                    for (long x : xs) {
                        value(type, x);
                    }
                }
                case float[] xs -> {
                    for (float x : xs) {
                        room(4).putFloat(x);
                    }
                }
                case double[] xs -> {
                    for (double x : xs) {
                        room(8).putDouble(x);
                    }
                }
                case boolean[] xs -> {
                    for (boolean x : xs) {
                        u8(x ? 1 : 0);
                    }
                }
                case String[] xs -> {
                    for (String x : xs) {
                        string(x);
                    }
                }
                case GgufArray[] xs -> {
                    for (GgufArray x : xs) {
                        array(x);
                    }
                }
                default -> throw new AssertionError(a.rawValues().getClass());
            }
        }

        /** Writes the header and returns its length. */
        long writeTo(WritableByteChannel out) throws IOException {
            ByteBuffer b = buf.flip();
            long n = b.remaining();
            writeFully(out, b);
            return n;
        }
    }
}
