package io.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.GgufFormatException;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufFileTest {
    @TempDir
    Path dir;
    Path path;

    @BeforeEach
    void writeModel() throws IOException {
        float[] values = new float[8 * 4];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.5f;
        }
        path = dir.resolve("model.gguf");
        new GgufWriter()
                .putString("general.architecture", "llama")
                .addTensor("w", GgmlType.F32, new long[] {8, 4}, MemorySegment.ofArray(values))
                .addTensor("v", GgmlType.F32, new long[] {8}, MemorySegment.ofArray(new float[8]))
                .write(path);
    }

    @Test
    void tensorData_isANativeReadOnlyMappingNotTheHeap() throws IOException {
        try (GgufFile file = GgufFile.open(path)) {
            MemorySegment data = file.tensor("w").data();
            assertThat(data.isNative()).isTrue();
            assertThat(data.isMapped()).isTrue();
            assertThat(data.heapBase()).isEmpty();
            assertThat(data.isReadOnly()).isTrue();
            assertThat(data.byteSize()).isEqualTo(8 * 4 * 4);
            assertThat(data.get(ValueLayout.JAVA_FLOAT, 4 * 3)).isEqualTo(1.5f);
            assertThatThrownBy(() -> data.set(ValueLayout.JAVA_BYTE, 0, (byte) 1))
                    .isInstanceOf(IllegalArgumentException.class);
            // Both tensors are views of one mapping, at the data section plus their offsets.
            MemorySegment v = file.tensor("v").data();
            assertThat(v.address() - data.address()).isEqualTo(file.tensor("v").offset());
            assertThat(file.tensor("v").offset()).isEqualTo(128);
        }
    }

    @Test
    void close_invalidatesTensorSegments_andIsIdempotent() throws IOException {
        GgufFile file = GgufFile.open(path);
        MemorySegment data = file.tensor("w").data();
        file.close();
        assertThatThrownBy(() -> data.get(ValueLayout.JAVA_FLOAT, 0)).isInstanceOf(IllegalStateException.class);
        file.close();
    }

    @Test
    void tensor_missing_throwsNamingFileAndTensor() throws IOException {
        try (GgufFile file = GgufFile.open(path)) {
            assertThat(file.findTensor("w")).contains(file.tensors().getFirst());
            assertThat(file.findTensor("output.weight")).isEmpty();
            assertThatThrownBy(() -> file.tensor("output.weight"))
                    .isInstanceOf(GgufFormatException.class)
                    .hasMessageStartingWith(path.toString())
                    .hasMessageContaining("tensor 'output.weight' not found");
        }
    }

    @Test
    void accessors_describeTheFile() throws IOException {
        try (GgufFile file = GgufFile.open(path)) {
            assertThat(file.path()).isEqualTo(path);
            assertThat(file.version()).isEqualTo(3);
            assertThat(file.alignment()).isEqualTo(32);
            assertThat(file.metadata().architecture()).isEqualTo("llama");
            assertThat(file.tensors()).extracting(GgufTensor::name).containsExactly("w", "v");
            GgufTensor w = file.tensor("w");
            assertThat(w.shape()).containsExactly(8, 4);
            assertThat(w.columns()).isEqualTo(8);
            assertThat(w.rows()).isEqualTo(4);
            assertThat(w.elementCount()).isEqualTo(32);
        }
    }

    @Test
    void open_missingFile_isAnIOException() {
        assertThatThrownBy(() -> GgufFile.open(dir.resolve("absent.gguf"))).isInstanceOf(NoSuchFileException.class);
    }

    @Test
    void version2_isAccepted() throws IOException {
        Path v2 = RawGguf.header(0, 1).kvString("general.architecture", "llama").writeTo(dir, "v2.gguf");
        byte[] bytes = java.nio.file.Files.readAllBytes(v2);
        bytes[4] = 2;
        java.nio.file.Files.write(v2, bytes);
        try (GgufFile file = GgufFile.open(v2)) {
            assertThat(file.version()).isEqualTo(2);
            assertThat(file.metadata().architecture()).isEqualTo("llama");
        }
    }
}
