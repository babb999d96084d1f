package io.tandem.engine.generator;

import static org.assertj.core.api.Assertions.assertThat;

import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelGeneratorTest {

    @Test
    void tinyPreset_loadsWithItsShapeTokenizerAndTemplate(@TempDir Path dir) throws Exception {
        ModelSpec spec = ModelSpec.tiny(GgmlType.Q8_0);
        Path p = ModelGenerator.generate(spec, dir.resolve("tiny.gguf"));
        try (LoadedModel m = LoadedModel.load(p)) {
            assertThat(m.config().dim()).isEqualTo(256);
            assertThat(m.config().nLayers()).isEqualTo(4);
            assertThat(m.config().nKvHeads()).isEqualTo(4);
            assertThat(m.config().vocabSize()).isEqualTo(spec.vocabSize());
            assertThat(m.weightType()).isEqualTo("Q8_0");
            assertThat(m.weights().parameterCount()).isEqualTo(spec.parameterCount());
            String text = "Hello, world! 你好 🚀\n  tabs\tand spaces";
            int[] ids = m.tokenizer().encode(text, false, false);
            assertThat(m.tokenizer().decode(ids, false)).isEqualTo(text);
            // Merges actually shorten text: fewer tokens than bytes.
            int[] words = m.tokenizer().encode("the quick brown fox jumps over the lazy dog", false, false);
            assertThat(words.length).isLessThan(43);
            assertThat(m.chatTemplate().render(java.util.List.of(new io.tandem.engine.template.ChatMessage("user", "hi")),
                    true, java.util.Map.of())).isEqualTo("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
            assertThat(m.tokenizer().isEndOfGeneration(m.tokenizer().tokenId("<|im_end|>").getAsInt())).isTrue();
        }
    }

    @Test
    void sameSpec_givesSameBytes(@TempDir Path dir) throws Exception {
        ModelSpec spec = new ModelSpec("t", "llama", 64, 2, 4, 2, 0, 128, 512, 256, GgmlType.F32, true, 7);
        Path a = ModelGenerator.generate(spec, dir.resolve("a.gguf"));
        Path b = ModelGenerator.generate(spec, dir.resolve("b.gguf"));
        assertThat(Files.mismatch(a, b)).isEqualTo(-1L);
        Path c = ModelGenerator.generate(spec.withSeed(8), dir.resolve("c.gguf"));
        assertThat(Files.mismatch(a, c)).isNotEqualTo(-1L);
        try (LoadedModel m = LoadedModel.load(a)) {
            assertThat(m.config().tiedEmbeddings()).isTrue();
        }
    }

    @Test
    void smallPreset_isAbout125MParameters() {
        assertThat(ModelSpec.small(GgmlType.F32).parameterCount()).isBetween(120_000_000L, 130_000_000L);
    }
}
