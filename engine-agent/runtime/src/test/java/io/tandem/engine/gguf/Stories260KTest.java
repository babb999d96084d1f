package io.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.tandem.engine.errors.GgufFormatException;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads the real TinyStories 260K model that llama.cpp's tools produced. The expected values were read from the
 * file with an independent script, not taken from a description of the model.
 */
class Stories260KTest {
    @TempDir
    Path dir;
    Path model;

    @BeforeEach
    void locateModel() {
        Path shared = Path.of(System.getProperty("tandem.shared.dir", "../../../shared"));
        model = shared.resolve("models/stories260K.gguf");
        Assumptions.assumeTrue(Files.isReadable(model), "test model absent: " + model.toAbsolutePath());
    }

    @Test
    void metadata_matchesTheModel() throws IOException {
        try (GgufFile file = GgufFile.open(model)) {
            GgufMetadata md = file.metadata();
            assertThat(file.version()).isEqualTo(3);
            assertThat(md.size()).isEqualTo(19);
            assertThat(md.architecture()).isEqualTo("llama");
            assertThat(md.getInt("llama.block_count")).isEqualTo(5);
            assertThat(md.getInt("llama.embedding_length")).isEqualTo(64);
            assertThat(md.getInt("llama.feed_forward_length")).isEqualTo(172);
            assertThat(md.getInt("llama.attention.head_count")).isEqualTo(8);
            assertThat(md.getInt("llama.attention.head_count_kv")).isEqualTo(4);
            assertThat(md.getInt("llama.context_length")).isEqualTo(512);
            assertThat(md.valueType("llama.block_count")).isEqualTo(GgufValueType.UINT32);
            assertThat(md.getFloat("llama.attention.layer_norm_rms_epsilon")).isCloseTo(1e-5f, within(1e-9f));
            assertThat(md.getString("tokenizer.ggml.model")).isEqualTo("llama");
            String[] tokens = md.getStringArray("tokenizer.ggml.tokens");
            assertThat(tokens).hasSize(512).startsWith("<unk>", "<s>", "</s>");
            assertThat(md.getFloatArray("tokenizer.ggml.scores")).hasSize(512);
            assertThat(md.getArray("tokenizer.ggml.token_type").elementType()).isEqualTo(GgufValueType.INT32);
            assertThat(md.getIntArray("tokenizer.ggml.token_type")).hasSize(512).startsWith(2, 3, 3);
            assertThat(md.getInt("tokenizer.ggml.bos_token_id")).isEqualTo(1);
            assertThat(md.getLong("tokenizer.ggml.seperator_token_id")).isEqualTo(0xFFFF_FFFFL);
            assertThatThrownBy(() -> md.getInt("tokenizer.ggml.seperator_token_id"))
                    .isInstanceOf(GgufFormatException.class).hasMessageContaining("does not fit in an int");
        }
    }

    @Test
    void tensors_matchTheModel() throws IOException {
        try (GgufFile file = GgufFile.open(model)) {
            assertThat(file.tensors()).hasSize(3 + 5 * 9);
            assertThat(file.dataOffset()).isEqualTo(14176);
            GgufTensor embd = file.tensor("token_embd.weight");
            assertThat(embd.type()).isEqualTo(GgmlType.F32);
            assertThat(embd.shape()).containsExactly(64, 512);
            assertThat(embd.columns()).isEqualTo(64);
            assertThat(embd.rows()).isEqualTo(512);
            assertThat(embd.byteSize()).isEqualTo(64 * 512 * 4);
            ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            assertThat(embd.data().get(f32, 0)).isEqualTo(-0.29474878f);
            assertThat(embd.data().get(f32, 4)).isEqualTo(0.5618956f);
            assertThat(file.tensor("blk.4.ffn_norm.weight").data().get(f32, 0)).isEqualTo(1.0344242f);
            assertThat(file.tensor("blk.0.ffn_down.weight").shape()).containsExactly(172, 64);
            assertThat(file.tensor("blk.0.attn_k.weight").shape()).containsExactly(64, 32);

            // Every tensor's bytes are the file's bytes at data section + offset.
            byte[] raw = Files.readAllBytes(model);
            for (GgufTensor t : file.tensors()) {
                ByteBuffer expected = ByteBuffer.wrap(raw, (int) (file.dataOffset() + t.offset()), (int) t.byteSize());
                assertThat(t.data().asByteBuffer()).as(t.name()).isEqualTo(expected);
            }
        }
    }

    @Test
    void rewritingTheModel_reproducesItByteForByte() throws IOException {
        Path copy = dir.resolve("copy.gguf");
        try (GgufFile file = GgufFile.open(model)) {
            GgufWriter writer = new GgufWriter().putAll(file.metadata());
            for (GgufTensor t : file.tensors()) {
                writer.addTensor(t.name(), t.type(), t.shape(), t.data());
            }
            writer.write(copy);
        }
        assertThat(Files.readAllBytes(copy)).isEqualTo(Files.readAllBytes(model));
    }
}
