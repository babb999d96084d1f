package io.tandem.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.GgufFormatException;
import io.tandem.engine.errors.ModelLoadException;
import io.tandem.engine.gguf.GgufFile;
import io.tandem.engine.gguf.GgufTensor;
import io.tandem.engine.gguf.GgufWriter;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files the engine cannot run fail at load with the file, the tensor or key, and the problem in the message. */
class ModelLoaderTest {
    @TempDir
    Path dir;

    /** Copies the tiny model, overriding one metadata key and dropping or reshaping tensors. */
    private Path variant(String name, String archOverride, Predicate<String> keepTensor, String reshape) throws Exception {
        Path src = TestModels.tiny(GgmlType.F32);
        Path out = dir.resolve(name + ".gguf");
        try (GgufFile f = GgufFile.open(src)) {
            GgufWriter w = new GgufWriter();
            w.putAll(f.metadata());
            if (archOverride != null) {
                w.putString("general.architecture", archOverride);
            }
            for (GgufTensor t : f.tensors()) {
                if (!keepTensor.test(t.name())) {
                    continue;
                }
                long[] shape = t.shape();
                if (t.name().equals(reshape)) {
                    shape = new long[] {shape[0] * shape[1]};
                }
                w.addTensor(t.name(), t.type(), shape, t.data());
            }
            w.write(out);
        }
        return out;
    }

    @Test
    void unsupportedArchitecture_namesFileAndArchitecture() throws Exception {
        Path p = variant("neox", "gptneox", n -> true, null);
        assertThatThrownBy(() -> LoadedModel.load(p)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining(p.toString())
                .hasMessageContaining("unsupported architecture 'gptneox'")
                .hasMessageContaining("llama, mistral, qwen2, qwen3");
    }

    @Test
    void missingTensor_namesFileAndTensor() throws Exception {
        Path p = variant("missing", null, n -> !n.equals("blk.2.ffn_up.weight"), null);
        assertThatThrownBy(() -> LoadedModel.load(p)).isInstanceOf(GgufFormatException.class)
                .hasMessageContaining(p.toString()).hasMessageContaining("blk.2.ffn_up.weight");
    }

    @Test
    void misshapenTensor_namesFileTensorAndExpectedShape() throws Exception {
        Path p = variant("shape", null, n -> true, "blk.1.attn_k.weight");
        assertThatThrownBy(() -> LoadedModel.load(p)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining(p.toString()).hasMessageContaining("'blk.1.attn_k.weight'")
                .hasMessageContaining("expected: [256, 128]");
    }

    @Test
    void truncatedFile_namesTheFile() throws Exception {
        Path src = TestModels.tiny(GgmlType.F32);
        Path p = dir.resolve("cut.gguf");
        byte[] all = Files.readAllBytes(src);
        Files.write(p, java.util.Arrays.copyOf(all, all.length / 2));
        assertThatThrownBy(() -> LoadedModel.load(p)).isInstanceOf(GgufFormatException.class)
                .hasMessageContaining(p.toString());
    }

    @Test
    void missingFile_isAModelLoadException() {
        Path p = dir.resolve("nope.gguf");
        assertThatThrownBy(() -> LoadedModel.load(p)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining(p.toString());
    }

    @Test
    void tinyModel_loadsWithoutCopyingMatricesToTheHeap() {
        try (LoadedModel m = LoadedModel.load(TestModels.tiny(GgmlType.Q8_0))) {
            assertThat(m.weights().layers().getFirst().wq().data().isNative()).isTrue();
            assertThat(m.weights().layers().getFirst().wq().data().isReadOnly()).isTrue();
        }
    }
}
