package io.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufRoundTripTest {
    @TempDir
    Path dir;

    /** Every wire type at its extremes, and arrays of every element type including nested and empty ones. */
    static Map<String, GgufValue> everyValueType() {
        GgufArray nested = new GgufArray(GgufValueType.ARRAY, new GgufArray[] {
            GgufArray.ofInt32(1, -2, 3),
            GgufArray.ofStrings("x", ""),
            new GgufArray(GgufValueType.ARRAY, new GgufArray[] {
                new GgufArray(GgufValueType.FLOAT64, new double[] {1.25, -0.0}),
                new GgufArray(GgufValueType.UINT8, new int[0]),
            }),
        });
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.of(GgufValueType.STRING, "llama"));
        m.put("t.uint8", GgufValue.of(GgufValueType.UINT8, 255));
        m.put("t.int8", GgufValue.of(GgufValueType.INT8, -128));
        m.put("t.uint16", GgufValue.of(GgufValueType.UINT16, 65535));
        m.put("t.int16", GgufValue.of(GgufValueType.INT16, -32768));
        m.put("t.uint32", GgufValue.of(GgufValueType.UINT32, 0xFFFF_FFFFL));
        m.put("t.int32", GgufValue.of(GgufValueType.INT32, Integer.MIN_VALUE));
        m.put("t.float32", GgufValue.of(GgufValueType.FLOAT32, -1.5e-7f));
        m.put("t.bool", GgufValue.of(GgufValueType.BOOL, true));
        m.put("t.string", GgufValue.of(GgufValueType.STRING, "héllo ✓ 🦙"));
        m.put("t.empty_string", GgufValue.of(GgufValueType.STRING, ""));
        m.put("t.uint64", GgufValue.of(GgufValueType.UINT64, -1L));
        m.put("t.int64", GgufValue.of(GgufValueType.INT64, Long.MIN_VALUE));
        m.put("t.float64", GgufValue.of(GgufValueType.FLOAT64, Math.PI));
        m.put("a.uint8", arr(GgufValueType.UINT8, new int[] {0, 255}));
        m.put("a.int8", arr(GgufValueType.INT8, new int[] {-128, 127}));
        m.put("a.uint16", arr(GgufValueType.UINT16, new int[] {0, 65535}));
        m.put("a.int16", arr(GgufValueType.INT16, new int[] {-32768, 32767}));
        m.put("a.uint32", arr(GgufValueType.UINT32, new long[] {0, 0xFFFF_FFFFL}));
        m.put("a.int32", arr(GgufValueType.INT32, new int[] {Integer.MIN_VALUE, Integer.MAX_VALUE}));
        m.put("a.float32", arr(GgufValueType.FLOAT32, new float[] {Float.NaN, Float.NEGATIVE_INFINITY, 1f}));
        m.put("a.bool", arr(GgufValueType.BOOL, new boolean[] {true, false}));
        m.put("a.string", arr(GgufValueType.STRING, new String[] {"<unk>", "▁the", ""}));
        m.put("a.uint64", arr(GgufValueType.UINT64, new long[] {0, -1L}));
        m.put("a.int64", arr(GgufValueType.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE}));
        m.put("a.float64", arr(GgufValueType.FLOAT64, new double[] {Double.MIN_VALUE, -2.5}));
        m.put("a.empty", arr(GgufValueType.STRING, new String[0]));
        m.put("a.nested", GgufValue.of(GgufValueType.ARRAY, nested));
        return m;
    }

    private static GgufValue arr(GgufValueType elementType, Object values) {
        return GgufValue.of(GgufValueType.ARRAY, new GgufArray(elementType, values));
    }

    @Test
    void metadata_everyValueType_roundTripsWithExactTypesAndValues() throws IOException {
        GgufWriter writer = new GgufWriter();
        everyValueType().forEach((k, v) -> writer.put(k, v.type(), v.value()));
        Path path = dir.resolve("meta.gguf");
        writer.write(path);

        try (GgufFile file = GgufFile.open(path)) {
            GgufMetadata md = file.metadata();
            assertThat(file.version()).isEqualTo(3);
            assertThat(file.tensors()).isEmpty();
            assertThat(md.keys()).containsExactlyElementsOf(everyValueType().keySet());
            everyValueType().forEach((key, expected) -> {
                assertThat(md.valueType(key)).as(key).isEqualTo(expected.type());
                Object expectedJava = expected.value() instanceof GgufArray a ? a.toJava() : expected.value();
                assertThat(md.get(key)).as(key).isEqualTo(expectedJava);
                assertThat(md.get(key).getClass()).as(key).isEqualTo(expectedJava.getClass());
                if (expected.value() instanceof GgufArray a) {
                    assertThat(md.getArray(key)).as(key).isEqualTo(a);
                }
            });
            assertThat(md.get("a.nested")).isEqualTo(new Object[] {
                new int[] {1, -2, 3}, new String[] {"x", ""}, new Object[] {new double[] {1.25, -0.0}, new int[0]}});

            // Copying the metadata through the writer reproduces the file exactly, types included.
            Path copy = dir.resolve("copy.gguf");
            new GgufWriter().putAll(md).write(copy);
            assertThat(Files.readAllBytes(copy)).isEqualTo(Files.readAllBytes(path));
        }
    }

    @Test
    void tensors_everyGgmlType_roundTripBytesAtAlignedOffsets() throws IOException {
        Random random = new Random(42);
        GgufWriter writer = new GgufWriter().putString("general.architecture", "test");
        Map<String, byte[]> expected = new LinkedHashMap<>();
        for (GgmlType type : GgmlType.values()) {
            // A 3-D tensor of whole blocks, and a single block, which for F16/BF16 (2 bytes) forces padding.
            for (long[] shape : List.of(new long[] {type.blockSize() * 2L, 3, 2}, new long[] {type.blockSize()})) {
                String name = type + "." + shape.length;
                byte[] data = new byte[Math.toIntExact(type.byteSize(shape[0] * (shape.length > 1 ? 6 : 1)))];
                random.nextBytes(data);
                writer.addTensor(name, type, shape, data);
                expected.put(name, data);
            }
        }
        Path path = dir.resolve("tensors.gguf");
        writer.write(path);

        try (GgufFile file = GgufFile.open(path)) {
            assertThat(file.dataOffset() % 32).isZero();
            assertThat(file.tensors()).extracting(GgufTensor::name).containsExactlyElementsOf(expected.keySet());
            for (GgufTensor t : file.tensors()) {
                GgmlType type = GgmlType.valueOf(t.name().substring(0, t.name().indexOf('.')));
                assertThat(t.type()).isEqualTo(type);
                assertThat(t.offset() % 32).as(t.name()).isZero();
                assertThat(t.byteSize()).isEqualTo(type.byteSize(t.elementCount()));
                assertThat(t.columns()).isEqualTo(type.blockSize() * (t.rank() == 3 ? 2L : 1L));
                assertThat(t.rows()).isEqualTo(t.rank() == 3 ? 6 : 1);
                assertThat(t.data().toArray(ValueLayout.JAVA_BYTE)).as(t.name()).isEqualTo(expected.get(t.name()));
            }
            assertThat(file.tensor("Q4_K.3").shape()).containsExactly(512, 3, 2);
        }
    }

    @Test
    void alignment_fromMetadata_alignsDataSectionAndOffsets() throws IOException {
        Path path = dir.resolve("aligned.gguf");
        new GgufWriter()
                .putUInt32("general.alignment", 256)
                .addTensor("a", GgmlType.F16, new long[] {3}, new byte[6])
                .addTensor("b", GgmlType.F32, new long[] {5}, new byte[20])
                .write(path);

        try (GgufFile file = GgufFile.open(path)) {
            assertThat(file.alignment()).isEqualTo(256);
            assertThat(file.dataOffset() % 256).isZero();
            assertThat(file.tensor("b").offset()).isEqualTo(256);
            assertThat(Files.size(path)).isEqualTo(file.dataOffset() + 512);
        }
    }

    @Test
    void padding_isZeros() throws IOException {
        byte[] ones = new byte[6];
        java.util.Arrays.fill(ones, (byte) 0xFF);
        Path path = dir.resolve("pad.gguf");
        new GgufWriter().addTensor("a", GgmlType.F16, new long[] {3}, ones)
                .addTensor("b", GgmlType.F16, new long[] {3}, ones).write(path);
        byte[] bytes = Files.readAllBytes(path);
        try (GgufFile file = GgufFile.open(path)) {
            int start = (int) file.dataOffset();
            assertThat(bytes).hasSize(start + 64);
            for (int i = 0; i < 64; i++) {
                byte expected = i % 32 < 6 ? (byte) 0xFF : 0;
                assertThat(bytes[start + i]).as("data byte " + i).isEqualTo(expected);
            }
        }
    }

    @Test
    void write_sameModelTwice_givesIdenticalBytes() throws IOException {
        Path first = dir.resolve("first.gguf");
        Path second = dir.resolve("second.gguf");
        model(7).write(first);
        model(7).write(second);
        assertThat(Files.readAllBytes(second)).isEqualTo(Files.readAllBytes(first));
        // And a writer can write again, pulling from its sources a second time.
        GgufWriter writer = model(7);
        writer.write(second);
        writer.write(second);
        assertThat(Files.readAllBytes(second)).isEqualTo(Files.readAllBytes(first));
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).extracting(p -> p.getFileName().toString())
                    .containsExactlyInAnyOrder("first.gguf", "second.gguf");
        }
    }

    @Test
    void write_streamsFromSourcesLazily() throws IOException {
        int[] calls = {0};
        GgufWriter writer = new GgufWriter().addTensor("lazy", GgmlType.F32, new long[] {1 << 16}, out -> {
            calls[0]++;
            ByteBuffer chunk = ByteBuffer.allocate(4096);
            for (int i = 0; i < 64; i++) {
                out.write(chunk.clear());
            }
        });
        assertThat(calls[0]).isZero();
        Path path = dir.resolve("lazy.gguf");
        writer.write(path);
        assertThat(calls[0]).isEqualTo(1);
        try (GgufFile file = GgufFile.open(path)) {
            assertThat(file.tensor("lazy").byteSize()).isEqualTo(1 << 18);
        }
    }

    @Test
    void write_sourceWritingWrongByteCount_failsAndLeavesNoFile() throws IOException {
        Path path = dir.resolve("bad.gguf");
        GgufWriter tooFew = new GgufWriter().addTensor("t", GgmlType.F32, new long[] {4},
                out -> out.write(ByteBuffer.allocate(12)));
        assertThatThrownBy(() -> tooFew.write(path)).isInstanceOf(IllegalStateException.class)
                .hasMessage("tensor 't': source wrote 12 bytes (expected: 16)");
        GgufWriter tooMany = new GgufWriter().addTensor("t", GgmlType.F32, new long[] {4},
                out -> out.write(ByteBuffer.allocate(20)));
        assertThatThrownBy(() -> tooMany.write(path)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("tensor 't'").hasMessageContaining("more than 16 bytes");
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).isEmpty();
        }
    }

    @Test
    void writer_rejectsValuesThatDoNotFitTheirType() {
        GgufWriter w = new GgufWriter();
        assertThatThrownBy(() -> w.put("k", GgufValueType.UINT8, 256))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'k'").hasMessageContaining("UINT8");
        assertThatThrownBy(() -> w.putUInt32("k", -1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> w.put("k", GgufValueType.FLOAT32, 1.0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> w.put("k", GgufValueType.ARRAY, new int[] {1}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("GgufArray");
        assertThatThrownBy(() -> new GgufArray(GgufValueType.INT8, new int[] {1, 200}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("values[1]: 200");
        assertThatThrownBy(() -> new GgufArray(GgufValueType.UINT32, new int[] {1}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("long[]");
        assertThatThrownBy(() -> w.putUInt32("general.alignment", 48))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two");
        assertThatThrownBy(() -> w.putInt32("general.alignment", 64))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("UINT32");
    }

    @Test
    void writer_rejectsInvalidTensors() {
        GgufWriter w = new GgufWriter().addTensor("t", GgmlType.F32, new long[] {2}, new byte[8]);
        assertThatThrownBy(() -> w.addTensor("t", GgmlType.F32, new long[] {2}, new byte[8]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'t'");
        assertThatThrownBy(() -> w.addTensor("q", GgmlType.Q4_0, new long[] {16, 2}, new byte[18]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("block size 32");
        assertThatThrownBy(() -> w.addTensor("z", GgmlType.F32, new long[] {2, 0}, new byte[0]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shape[1]: 0");
        assertThatThrownBy(() -> w.addTensor("five", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, new byte[4]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("shape.length: 5");
        assertThatThrownBy(() -> w.addTensor("size", GgmlType.F32, new long[] {2}, new byte[7]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expected: 8");
        // A rejected add leaves the name free.
        w.addTensor("size", GgmlType.F32, new long[] {2}, new byte[8]);
    }

    private static GgufWriter model(long seed) {
        Random random = new Random(seed);
        byte[] embd = new byte[64 * 16 * 4];
        random.nextBytes(embd);
        byte[] q = new byte[Math.toIntExact(GgmlType.Q8_0.byteSize(64 * 3))];
        random.nextBytes(q);
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putUInt32("llama.block_count", 1)
                .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .putStringArray("tokenizer.ggml.tokens", "a", "b", "c")
                .putFloat32Array("tokenizer.ggml.scores", 0f, -1f, -2f)
                .putInt32Array("tokenizer.ggml.token_type", 1, 1, 1)
                .putBool("general.flag", false)
                .putUInt64("general.count", 3)
                .putInt32("general.int", -3);
        return w.addTensor("token_embd.weight", GgmlType.F32, new long[] {64, 16}, embd)
                .addTensor("blk.0.attn_q.weight", GgmlType.Q8_0, new long[] {64, 3}, MemorySegment.ofArray(q));
    }
}
