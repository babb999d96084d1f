package io.tandem.engine.weights;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.model.ModelWeights;
import io.tandem.engine.tensor.Quants;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Builds a safetensors payload: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, padded with spaces to a multiple of 8, then the tensors' little-endian bytes. For tests
 * and tools that push weights ({@link WeightUpdater} reads the format back).
 *
 * <p>Not thread-safe; a builder for one payload.
 */
public final class SafetensorsWriter {
    /** Which tensor names {@link #ofWeights} writes. */
    public enum Naming {
        /** {@code blk.0.attn_q.weight}, as the engine and GGUF files name them. */
        GGUF,
        /**
         * {@code model.layers.0.self_attn.q_proj.weight}, as a Hugging Face checkpoint names them, with Llama's
         * Q/K rows in HF order (the inverse of the GGUF conversion's permutation).
         */
        HUGGING_FACE
    }

    private record Entry(String dtype, long[] shape, byte[] data) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, Entry> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds an F32 tensor of {@code shape} (row-major, e.g. {@code [rows, cols]}). */
    public SafetensorsWriter putF32(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 4)).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return putRaw(name, "F32", shape, b.array());
    }

    /** Adds an F16 tensor, rounding {@code values} to half precision. */
    public SafetensorsWriter putF16(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 2)).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putShort(Float.floatToFloat16(v));
        }
        return putRaw(name, "F16", shape, b.array());
    }

    /** Adds a BF16 tensor, rounding {@code values} to bfloat16. */
    public SafetensorsWriter putBf16(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(Math.multiplyExact(values.length, 2)).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putShort(Quants.floatToBf16(v));
        }
        return putRaw(name, "BF16", shape, b.array());
    }

    /** Adds a tensor as given: no check of {@code data} against {@code dtype} and {@code shape} (tests use that). */
    public SafetensorsWriter putRaw(String name, String dtype, long[] shape, byte[] data) {
        Objects.requireNonNull(name, "name");
        if (name.equals("__metadata__") || tensors.containsKey(name)) {
            throw new IllegalArgumentException("name: '" + name + "' (expected: a new tensor name)");
        }
        tensors.put(name, new Entry(Objects.requireNonNull(dtype, "dtype"), shape.clone(), data.clone()));
        return this;
    }

    /** Adds a {@code __metadata__} string entry. */
    public SafetensorsWriter putMetadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /** Names of the tensors added so far, in order. */
    public List<String> names() {
        return new ArrayList<>(tensors.keySet());
    }

    public byte[] toByteArray() {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode md = header.putObject("__metadata__");
            metadata.forEach(md::put);
        }
        long offset = 0;
        for (var e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", e.getValue().dtype());
            var shape = t.putArray("shape");
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            long end = offset + e.getValue().data().length;
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.toIntExact(8 + padded + offset));
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
        out.writeBytes(json);
        for (int i = json.length; i < padded; i++) {
            out.write(' ');
        }
        for (Entry e : tensors.values()) {
            out.writeBytes(e.data());
        }
        return out.toByteArray();
    }

    public void writeTo(Path path) {
        try {
            Files.write(path, toByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + path + ": " + e.getMessage(), e);
        }
    }

    /**
     * Every updatable tensor of {@code w} as F32 (quantized matrices dequantized), named by {@code naming}: a
     * full-model payload, as a trainer would push it. Reads the weights' memory, so they must be mapped.
     */
    public static SafetensorsWriter ofWeights(ModelWeights w, ModelConfig c, Naming naming) {
        return ofWeights(w, c, naming, name -> true);
    }

    /**
     * {@link #ofWeights(ModelWeights, ModelConfig, Naming)} limited to the tensors whose GGUF name passes
     * {@code ggufNames}: one bucket of a bucketed push.
     */
    public static SafetensorsWriter ofWeights(ModelWeights w, ModelConfig c, Naming naming,
                                              java.util.function.Predicate<String> ggufNames) {
        SafetensorsWriter out = new SafetensorsWriter();
        for (var e : WeightSlots.tensors(w).entrySet()) {
            String gguf = e.getKey();
            if (!ggufNames.test(gguf)) {
                continue;
            }
            boolean hf = naming == Naming.HUGGING_FACE;
            String name = hf ? TensorNames.toHuggingFace(gguf) : gguf;
            int heads = hf ? TensorNames.permutationHeads(gguf, c) : 0;
            if (e.getValue() instanceof WeightMatrix m) {
                float[] values = toFloats(m);
                if (heads > 0) {
                    values = TensorNames.ggufToHf(values, m.rows(), m.cols(), heads);
                }
                out.putF32(name, new long[] {m.rows(), m.cols()}, values);
            } else {
                float[] v = (float[]) e.getValue();
                if (heads > 0) {
                    v = TensorNames.ggufToHf(v, v.length, 1, heads);
                }
                out.putF32(name, new long[] {v.length}, v);
            }
        }
        return out;
    }

    /** The matrix dequantized, row-major. */
    static float[] toFloats(WeightMatrix m) {
        float[] out = new float[Math.multiplyExact(m.rows(), m.cols())];
        for (int r = 0; r < m.rows(); r++) {
            Quants.dequantizeRow(m.type(), m.data(), m.rowOffset(r), out, r * m.cols(), m.cols());
        }
        return out;
    }
}
