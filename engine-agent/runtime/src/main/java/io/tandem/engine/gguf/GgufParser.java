package io.tandem.engine.gguf;

import io.tandem.engine.errors.GgufFormatException;
import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Parses the GGUF header, metadata and tensor infos out of a file's bytes and slices the tensors' data.
 *
 * <p>The input is untrusted: every read is bounds-checked against the segment, and every count or length is
 * checked against the bytes left before anything is allocated for it, so a corrupt file fails with a
 * {@link GgufFormatException} that says where, never with an {@code IndexOutOfBoundsException} or an
 * {@code OutOfMemoryError}. Nesting of arrays is bounded for the same reason (stack depth).
 *
 * <p>Single use and not thread-safe; {@link GgufFile} creates one per open.
 */
final class GgufParser {
    /** "GGUF" read as a little-endian u32. */
    static final int MAGIC = 0x4655_4747;
    static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_DIMS = 4;
    private static final int MAX_ARRAY_NESTING = 16;
    // The fewest bytes a metadata KV and a tensor info can take, to bound their counts up front.
    private static final int MIN_KV_SIZE = 8 + 4 + 1;
    private static final int MIN_TENSOR_INFO_SIZE = 8 + 4 + 8 + 4 + 8;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** What a successful parse yields. */
    record Result(int version, GgufMetadata metadata, List<GgufTensor> tensors, long alignment, long dataOffset) {}

    private final String file;
    private final MemorySegment bytes;
    private final long size;
    private long pos;
    /** What is being read, for error messages: "header", "metadata key 'x'", "tensor 'y'". */
    private String context = "header";

    GgufParser(String file, MemorySegment bytes) {
        this.file = file;
        this.bytes = bytes;
        this.size = bytes.byteSize();
    }

    Result parse() {
        need(4);
        int magic = bytes.get(U32, pos);
        if (magic != MAGIC) {
            throw fail(String.format("bad magic 0x%08x (expected \"GGUF\")", Integer.reverseBytes(magic)));
        }
        pos += 4;
        int version = u32();
        if (version != 2 && version != 3) {
            int swapped = Integer.reverseBytes(version);
            throw fail(swapped >= 1 && swapped <= 3
                    ? "big-endian GGUF (version " + swapped + ") is not supported"
                    : "unsupported version " + Integer.toUnsignedString(version) + " (supported: 2, 3)");
        }
        long tensorCount = u64();
        long kvCount = u64();
        checkCount(kvCount, MIN_KV_SIZE, "metadata_kv_count");

        LinkedHashMap<String, GgufValue> kvs = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            context = "metadata key #" + i;
            String key = string();
            context = "metadata key '" + key + "'";
            GgufValueType type = valueType();
            GgufValue value = new GgufValue(type, value(type, 0));
            if (kvs.putIfAbsent(key, value) != null) {
                throw failHere("duplicate key");
            }
        }
        context = "header";
        GgufMetadata metadata = new GgufMetadata(file, kvs);
        long alignment = alignment(metadata);

        checkCount(tensorCount, MIN_TENSOR_INFO_SIZE, "tensor_count");
        List<TensorInfo> infos = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (long i = 0; i < tensorCount; i++) {
            context = "tensor info #" + i;
            String name = string();
            context = "tensor '" + name + "'";
            if (!names.add(name)) {
                throw failHere("duplicate tensor name");
            }
            infos.add(tensorInfo(name));
        }
        context = "tensor data";
        long dataOffset = alignUp(pos, alignment);
        return new Result(version, metadata, tensors(infos, alignment, dataOffset), alignment, dataOffset);
    }

    private record TensorInfo(String name, long[] shape, GgmlType type, long offset, long byteSize) {}

    private TensorInfo tensorInfo(String name) {
        long nDims = Integer.toUnsignedLong(u32());
        if (nDims < 1 || nDims > MAX_DIMS) {
            throw failHere("n_dims " + nDims + " (expected: 1.." + MAX_DIMS + ")");
        }
        long[] shape = new long[(int) nDims];
        long elements = 1;
        for (int d = 0; d < nDims; d++) {
            shape[d] = u64();
            if (shape[d] <= 0) {
                throw failHere("dimension " + d + " is " + Long.toUnsignedString(shape[d]) + " (expected: > 0)");
            }
            elements = multiply(elements, shape[d], "element count of shape " + Arrays.toString(shape));
        }
        long typeId = Integer.toUnsignedLong(u32());
        GgmlType type = typeId <= Integer.MAX_VALUE ? GgmlType.fromId((int) typeId) : null;
        if (type == null) {
            throw failHere("unsupported tensor type id " + typeId + " (supported: " + supportedTypes() + ")");
        }
        // ggml lays out quantized tensors row by row, so each row, not just the whole tensor, is whole blocks.
        if (shape[0] % type.blockSize() != 0) {
            throw failHere("row length " + shape[0] + " is not a multiple of " + type + "'s block size "
                    + type.blockSize() + " (element count " + elements + ")");
        }
        long byteSize = multiply(elements / type.blockSize(), type.typeSize(), "byte size");
        long offset = u64();
        return new TensorInfo(name, shape, type, offset, byteSize);
    }

    private List<GgufTensor> tensors(List<TensorInfo> infos, long alignment, long dataOffset) {
        long dataSize = Math.max(0, size - dataOffset);
        for (TensorInfo t : infos) {
            String where = "tensor '" + t.name + "': data [offset " + Long.toUnsignedString(t.offset) + ", "
                    + t.byteSize + " bytes]";
            if (Long.compareUnsigned(t.offset, dataSize) > 0 || t.byteSize > dataSize - t.offset) {
                throw fail(where + " runs past end of file (size " + size + ", data section starts at "
                        + dataOffset + ")");
            }
            if (t.offset % alignment != 0) {
                throw fail(where + " is not aligned to " + alignment + " bytes");
            }
        }
        List<TensorInfo> byOffset = new ArrayList<>(infos);
        byOffset.sort(Comparator.comparingLong(TensorInfo::offset));
        for (int i = 1; i < byOffset.size(); i++) {
            TensorInfo prev = byOffset.get(i - 1);
            TensorInfo t = byOffset.get(i);
            if (prev.offset + prev.byteSize > t.offset) {
                throw fail("tensor '" + t.name + "': data [offset " + t.offset + ", " + t.byteSize
                        + " bytes] overlaps tensor '" + prev.name + "' [offset " + prev.offset + ", "
                        + prev.byteSize + " bytes]");
            }
        }
        List<GgufTensor> tensors = new ArrayList<>(infos.size());
        for (TensorInfo t : infos) {
            MemorySegment data = bytes.asSlice(dataOffset + t.offset, t.byteSize);
            tensors.add(new GgufTensor(t.name, t.type, t.shape, t.offset, data));
        }
        return List.copyOf(tensors);
    }

    private long alignment(GgufMetadata metadata) {
        if (!metadata.contains(GgufMetadata.ALIGNMENT)) {
            return DEFAULT_ALIGNMENT;
        }
        long a = metadata.getLong(GgufMetadata.ALIGNMENT); // throws if not an integer
        if (a <= 0 || Long.bitCount(a) != 1) {
            throw fail(GgufMetadata.ALIGNMENT + ": " + a + " (expected: a power of two)");
        }
        return a;
    }

    private GgufValueType valueType() {
        long id = Integer.toUnsignedLong(u32());
        GgufValueType type = GgufValueType.fromId(id);
        if (type == null) {
            throw failHere("unknown value type id " + id);
        }
        return type;
    }

    private Object value(GgufValueType type, int depth) {
        return switch (type) {
            case UINT8 -> u8() & 0xFF;
            case INT8 -> (int) u8();
            case UINT16 -> u16() & 0xFFFF;
            case INT16 -> (int) u16();
            case UINT32 -> Integer.toUnsignedLong(u32());
            case INT32 -> u32();
            case FLOAT32 -> f32();
            case BOOL -> bool();
            case STRING -> string();
            case ARRAY -> array(depth + 1);
            case UINT64, INT64 -> u64();
            case FLOAT64 -> f64();
        };
    }

    private GgufArray array(int depth) {
        if (depth > MAX_ARRAY_NESTING) {
            throw failHere("arrays nested deeper than " + MAX_ARRAY_NESTING);
        }
        GgufValueType type = valueType();
        long count = u64();
        checkCount(count, type.minEncodedSize(), "array count");
        if (count > Integer.MAX_VALUE - 8) {
            throw failHere("array count " + count + " exceeds the largest Java array");
        }
        int n = (int) count;
        Object values = switch (type) {
            case UINT8, INT8, UINT16, INT16, INT32 -> {
                int[] a = new int[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (Integer) value(type, depth);
                }
                yield a;
            }
            case UINT32, INT64, UINT64 -> {
                long[] a = new long[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (Long) value(type, depth);
                }
                yield a;
            }
            case FLOAT32 -> {
                float[] a = new float[n];
                for (int i = 0; i < n; i++) {
                    a[i] = f32();
                }
                yield a;
            }
            case FLOAT64 -> {
                double[] a = new double[n];
                for (int i = 0; i < n; i++) {
                    a[i] = f64();
                }
                yield a;
            }
            case BOOL -> {
                boolean[] a = new boolean[n];
                for (int i = 0; i < n; i++) {
                    a[i] = bool();
                }
                yield a;
            }
            case STRING -> {
                String[] a = new String[n];
                for (int i = 0; i < n; i++) {
                    a[i] = string();
                }
                yield a;
            }
            case ARRAY -> {
                GgufArray[] a = new GgufArray[n];
                for (int i = 0; i < n; i++) {
                    a[i] = array(depth + 1);
                }
                yield a;
            }
        };
        return new GgufArray(type, values);
    }

    private String string() {
        long len = u64();
        if (len < 0 || len > size - pos) {
            throw fail("truncated while reading " + context + ": string length " + Long.toUnsignedString(len)
                    + " exceeds the " + (size - pos) + " bytes left (file size " + size + ")");
        }
        if (len > Integer.MAX_VALUE - 8) {
            throw failHere("string length " + len + " exceeds the largest Java array");
        }
        byte[] utf8 = new byte[(int) len];
        MemorySegment.copy(bytes, ValueLayout.JAVA_BYTE, pos, utf8, 0, utf8.length);
        pos += len;
        return new String(utf8, StandardCharsets.UTF_8);
    }

    private boolean bool() {
        byte b = u8();
        if (b != 0 && b != 1) {
            throw failHere("bool value " + b + " (expected: 0 or 1)");
        }
        return b == 1;
    }

    private byte u8() {
        need(1);
        return bytes.get(ValueLayout.JAVA_BYTE, pos++);
    }

    private short u16() {
        need(2);
        short v = bytes.get(U16, pos);
        pos += 2;
        return v;
    }

    private int u32() {
        need(4);
        int v = bytes.get(U32, pos);
        pos += 4;
        return v;
    }

    private long u64() {
        need(8);
        long v = bytes.get(U64, pos);
        pos += 8;
        return v;
    }

    private float f32() {
        need(4);
        float v = bytes.get(F32, pos);
        pos += 4;
        return v;
    }

    private double f64() {
        need(8);
        double v = bytes.get(F64, pos);
        pos += 8;
        return v;
    }

    private void need(long n) {
        if (n > size - pos) {
            throw fail("truncated while reading " + context + " (need " + n + " bytes at offset " + pos
                    + ", file size " + size + ")");
        }
    }

    /** Rejects a count that the remaining bytes cannot hold, before anything is sized by it. */
    private void checkCount(long count, int minElementSize, String what) {
        long left = size - pos;
        if (count < 0 || count > left / minElementSize) {
            throw fail("truncated while reading " + context + ": " + what + " " + Long.toUnsignedString(count)
                    + " needs at least " + minElementSize + " bytes each but only " + left
                    + " bytes are left (file size " + size + ")");
        }
    }

    private long multiply(long a, long b, String what) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw failHere(what + " overflows a 64-bit integer");
        }
    }

    static long alignUp(long offset, long alignment) {
        return (offset + alignment - 1) & -alignment;
    }

    static String supportedTypes() {
        return Arrays.stream(GgmlType.values()).map(t -> t + "=" + t.id()).collect(Collectors.joining(", "));
    }

    private GgufFormatException failHere(String problem) {
        return fail(context + ": " + problem);
    }

    private GgufFormatException fail(String problem) {
        return new GgufFormatException(file + ": " + problem);
    }
}
