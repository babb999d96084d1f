package io.tandem.engine.weights;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.engine.errors.WeightUpdateException;
import io.tandem.engine.tensor.Quants;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reads safetensors payloads: {@code u64 N} (little-endian), {@code N} bytes of JSON header, then the data
 * section. Every header field is checked before any byte of data is trusted: dtype, shape, offsets inside the
 * data section and matching {@code dtype size * elements}. Failures are {@link WeightUpdateException}s naming
 * the tensor.
 */
final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Element types the updater converts from. */
    enum Dtype {
        F32(4), F16(2), BF16(2);

        final int size;

        Dtype(int size) {
            this.size = size;
        }
    }

    /** One tensor of a payload: {@code data} is exactly its bytes. */
    record Tensor(String name, Dtype dtype, long[] shape, MemorySegment data) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** Decodes elements {@code [from, from + n)} into {@code dst[0..n)}. */
        void read(long from, float[] dst, int n) {
            long off = from * dtype.size;
            switch (dtype) {
                case F32 -> {
                    for (int i = 0; i < n; i++) {
                        dst[i] = data.get(F32, off + 4L * i);
                    }
                }
                case F16 -> {
                    for (int i = 0; i < n; i++) {
                        dst[i] = Float.float16ToFloat(data.get(I16, off + 2L * i));
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < n; i++) {
                        dst[i] = Quants.bf16ToFloat(data.get(I16, off + 2L * i));
                    }
                }
            }
        }
    }

    private Safetensors() {
    }

    /** Parses and checks the header of {@code payload}; the tensors' data are slices of it. */
    static List<Tensor> parse(MemorySegment payload) {
        long size = payload.byteSize();
        if (size < 8) {
            throw new WeightUpdateException(null, "safetensors payload of " + size
                    + " bytes is truncated (expected: an 8-byte header length first)");
        }
        long n = payload.get(I64, 0);
        if (n < 2 || n > size - 8 || n > Integer.MAX_VALUE - 8) {
            throw new WeightUpdateException(null, "safetensors header length " + n + " does not fit the payload of "
                    + size + " bytes (truncated header?)");
        }
        byte[] headerBytes = payload.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new WeightUpdateException(null, "safetensors header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (header == null || !header.isObject()) {
            throw new WeightUpdateException(null, "safetensors header is not a JSON object");
        }
        MemorySegment data = payload.asSlice(8 + n);
        List<Tensor> out = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getKey().equals("__metadata__")) {
                out.add(tensor(e.getKey(), e.getValue(), data));
            }
        }
        return out;
    }

    private static Tensor tensor(String name, JsonNode info, MemorySegment data) {
        String where = "tensor '" + name + "': ";
        if (!info.isObject()) {
            throw new WeightUpdateException(name, where + "header entry is not an object");
        }
        JsonNode dt = info.get("dtype");
        Dtype dtype;
        try {
            dtype = Dtype.valueOf(dt == null ? "" : dt.asText());
        } catch (IllegalArgumentException ex) {
            throw new WeightUpdateException(name, where + "dtype " + dt + " (expected: F32, F16 or BF16)");
        }
        JsonNode shapeNode = info.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new WeightUpdateException(name, where + "missing shape array");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new WeightUpdateException(name, where + "shape " + shapeNode + " (expected: non-negative integers)");
            }
            shape[i] = d.asLong();
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException ex) {
                throw new WeightUpdateException(name, where + "shape " + shapeNode + " is too large");
            }
        }
        JsonNode offs = info.get("data_offsets");
        if (offs == null || !offs.isArray() || offs.size() != 2 || !offs.get(0).isIntegralNumber()
                || !offs.get(1).isIntegralNumber()) {
            throw new WeightUpdateException(name, where + "data_offsets " + offs + " (expected: [begin, end])");
        }
        long begin = offs.get(0).asLong();
        long end = offs.get(1).asLong();
        if (begin < 0 || end < begin || end > data.byteSize()) {
            throw new WeightUpdateException(name, where + "data_offsets [" + begin + ", " + end
                    + "] (expected: inside the data section of " + data.byteSize() + " bytes)");
        }
        if (elements > Long.MAX_VALUE / dtype.size || end - begin != elements * dtype.size) {
            throw new WeightUpdateException(name, where + (end - begin) + " bytes of data (expected: "
                    + elements + " " + dtype + " elements of shape " + Arrays.toString(shape) + " = "
                    + elements * dtype.size + " bytes)");
        }
        return new Tensor(name, dtype, shape, data.asSlice(begin, end - begin));
    }
}
