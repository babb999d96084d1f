package io.tandem.engine.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.WeightUpdateException;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.WeightArenas;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.EngineConfig;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.testing.TestModels;
import io.tandem.engine.weights.SafetensorsWriter.Naming;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightUpdaterTest {
    private static final long SECOND_SEED = 7;
    private static LoadedModel first;
    private static LoadedModel second;
    private static List<int[]> prompts;
    private static List<int[]> secondTokens;

    @BeforeAll
    static void load() {
        first = LoadedModel.load(TestModels.tiny(GgmlType.F32));
        second = LoadedModel.load(TestModels.generated(ModelSpec.tiny(GgmlType.F32).withSeed(SECOND_SEED),
                "tiny-f32-seed7.gguf"));
        prompts = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(3);
        for (int len : new int[] {4, 19, 37}) {
            prompts.add(r.ints(len, 0, first.config().vocabSize()).toArray());
        }
        try (Engine e = new Engine(second, config())) {
            secondTokens = greedy(e);
        }
    }

    @AfterAll
    static void close() {
        first.close();
        second.close();
    }

    private static EngineConfig config() {
        return EngineConfig.defaults().withKvBlocks(64).withBlockSize(16).withThreads(2);
    }

    private static List<int[]> greedy(Engine e) {
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            SamplingParams p = SamplingParams.builder().temperature(0).maxTokens(10).ignoreEos(true).build();
            out.add(e.generate(GenerationRequest.of("p" + i, prompts.get(i), p)).outputTokens());
        }
        return out;
    }

    private static void assertSameTokens(List<int[]> actual, List<int[]> expected) {
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i)).as("prompt %d", i).containsExactly(expected.get(i));
        }
    }

    private static byte[] payload(Naming naming) {
        return SafetensorsWriter.ofWeights(second.weights(), second.config(), naming).toByteArray();
    }

    @Test
    void fullUpdateWithGgufNames_givesTheSecondModelsTokens() {
        try (Engine e = new Engine(first, config())) {
            List<int[]> before = greedy(e);
            assertThat(before.get(2)).isNotEqualTo(secondTokens.get(2)); // the two models do differ
            WeightUpdater u = new WeightUpdater(e);
            u.stageSafetensors(payload(Naming.GGUF));
            assertThat(u.stagedCount()).isEqualTo(2 + 4 * 9 + 1);
            u.commit().join();
            assertThat(u.stagedCount()).isZero();
            assertSameTokens(greedy(e), secondTokens);
            // The engine's original mapping is untouched: a fresh engine on the first model still gives its tokens.
            try (Engine fresh = new Engine(first, config())) {
                assertSameTokens(greedy(fresh), before);
            }
        }
    }

    @Test
    void fullUpdateWithHuggingFaceNames_permutesQK_andGivesTheSecondModelsTokens() {
        try (Engine e = new Engine(first, config())) {
            WeightUpdater u = new WeightUpdater(e);
            u.stageSafetensors(payload(Naming.HUGGING_FACE));
            u.commit().join();
            assertSameTokens(greedy(e), secondTokens);
        }
    }

    @Test
    void huggingFacePayload_holdsQKInHuggingFaceOrder_asConvertHfToGgufUndoes() {
        byte[] hf = payload(Naming.HUGGING_FACE);
        var tensors = Safetensors.parse(MemorySegment.ofArray(hf));
        var q = tensors.stream().filter(t -> t.name().equals("model.layers.1.self_attn.q_proj.weight")).findFirst()
                .orElseThrow();
        var k = tensors.stream().filter(t -> t.name().equals("model.layers.1.self_attn.k_proj.weight")).findFirst()
                .orElseThrow();
        assertThat(numpyPermute(read(q), second.config().nHeads(), 256))
                .containsExactly(SafetensorsWriter.toFloats(second.weights().layers().get(1).wq()));
        assertThat(numpyPermute(read(k), second.config().nKvHeads(), 256))
                .containsExactly(SafetensorsWriter.toFloats(second.weights().layers().get(1).wk()));
    }

    private static float[] read(Safetensors.Tensor t) {
        float[] v = new float[Math.toIntExact(t.elements())];
        t.read(0, v, v.length);
        return v;
    }

    /**
     * convert_hf_to_gguf.py's LlamaModel.permute written as the numpy it is:
     * {@code w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)}.
     */
    private static float[] numpyPermute(float[] w, int nHead, int cols) {
        int rows = w.length / cols;
        int half = rows / nHead / 2;
        float[] out = new float[w.length];
        int dst = 0;
        // Iterate the swapped view (n_head, half, 2, cols) in C order; the source index is (h, s, j, c).
        for (int h = 0; h < nHead; h++) {
            for (int j = 0; j < half; j++) {
                for (int s = 0; s < 2; s++) {
                    for (int c = 0; c < cols; c++) {
                        out[dst++] = w[((h * 2 + s) * half + j) * cols + c];
                    }
                }
            }
        }
        return out;
    }

    @Test
    void quantizedModel_isUpdatedInItsOwnType() {
        ModelSpec q8 = ModelSpec.tiny(GgmlType.Q8_0);
        try (LoadedModel firstQ = LoadedModel.load(TestModels.tiny(GgmlType.Q8_0));
             LoadedModel secondQ = LoadedModel.load(TestModels.generated(q8.withSeed(SECOND_SEED),
                     "tiny-q8_0-seed7.gguf"));
             Engine expectedEngine = new Engine(secondQ, config());
             Engine e = new Engine(firstQ, config())) {
            WeightUpdater u = new WeightUpdater(e);
            u.stageSafetensors(payload(Naming.GGUF)); // F32 values, quantized to Q8_0 as the generator does
            u.commit().join();
            assertThat(e.weights().layers().getFirst().wq().type()).isEqualTo(GgmlType.Q8_0);
            assertSameTokens(greedy(e), greedy(expectedEngine));
        }
    }

    @Test
    void partialUpdatesInSeveralBuckets_thenOneCommit() {
        try (Engine e = new Engine(first, config())) {
            WeightUpdater u = new WeightUpdater(e);
            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.HUGGING_FACE,
                    n -> n.startsWith("blk.0.") || n.startsWith("blk.1.")).toByteArray());
            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.GGUF,
                    n -> n.startsWith("blk.2.") || n.startsWith("blk.3.")).toByteArray());
            assertThat(u.stagedCount()).isEqualTo(4 * 9);
            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.GGUF,
                    n -> !n.startsWith("blk.")).toByteArray());
            u.commit().join();
            assertSameTokens(greedy(e), secondTokens);
        }
    }

    @Test
    void successiveCommits_buildOnEachOther_andFreeWhatTheyReplace() {
        try (Engine e = new Engine(first, config())) {
            WeightUpdater u = new WeightUpdater(e);
            WeightArenas arenas = e.weightArenas();
            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.GGUF,
                    n -> n.startsWith("blk.")).toByteArray());
            u.commit().join();
            long layerBytes = arenas.ownedBytes();
            assertThat(layerBytes).isEqualTo(4 * (4 * 256 * 256 * 4L - 2 * 128 * 256 * 4L + 3 * 256 * 768 * 4L));
            u.stageSafetensors(payload(Naming.GGUF)); // everything again: the layer matrices of commit 1 go
            u.commit().join();
            assertThat(arenas.ownedBytes()).isEqualTo(layerBytes + 2 * 4096 * 256 * 4L);
            assertSameTokens(greedy(e), secondTokens);
        }
        // close() frees the update memory in use
    }

    @Test
    void badBuckets_areRefusedNamingTheTensor_discardEverythingStaged_andKeepTheWeights() {
        try (Engine e = new Engine(first, config())) {
            List<int[]> before = greedy(e);
            WeightUpdater u = new WeightUpdater(e);

            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.GGUF,
                    n -> n.startsWith("blk.0.")).toByteArray());
            assertThat(u.stagedCount()).isEqualTo(9);
            byte[] wrongShape = new SafetensorsWriter()
                    .putF32("output_norm.weight", new long[] {256}, new float[256])
                    .putF32("model.layers.1.mlp.up_proj.weight", new long[] {256, 768}, new float[256 * 768])
                    .toByteArray();
            assertThatThrownBy(() -> u.stageSafetensors(wrongShape))
                    .isInstanceOfSatisfying(WeightUpdateException.class, ex ->
                            assertThat(ex.tensorName()).isEqualTo("model.layers.1.mlp.up_proj.weight"))
                    .hasMessage("tensor 'model.layers.1.mlp.up_proj.weight' has shape [256, 768] (expected: [768, 256])");
            assertThat(u.stagedCount()).isZero();
            assertThat(e.weightArenas().ownedBytes()).isZero();

            byte[] unknown = new SafetensorsWriter()
                    .putF32("model.layers.0.mlp.gate.weight", new long[] {1}, new float[1]).toByteArray();
            assertThatThrownBy(() -> u.stageSafetensors(unknown))
                    .isInstanceOfSatisfying(WeightUpdateException.class, ex ->
                            assertThat(ex.tensorName()).isEqualTo("model.layers.0.mlp.gate.weight"))
                    .hasMessageStartingWith("unknown tensor 'model.layers.0.mlp.gate.weight'");

            byte[] noSuchLayer = new SafetensorsWriter()
                    .putF32("blk.4.attn_norm.weight", new long[] {256}, new float[256]).toByteArray();
            assertThatThrownBy(() -> u.stageSafetensors(noSuchLayer)).isInstanceOf(WeightUpdateException.class)
                    .hasMessageContaining("the model has no tensor 'blk.4.attn_norm.weight'");

            byte[] full = payload(Naming.GGUF);
            assertThatThrownBy(() -> u.stageSafetensors(Arrays.copyOf(full, 100)))
                    .isInstanceOfSatisfying(WeightUpdateException.class, ex -> assertThat(ex.tensorName()).isNull())
                    .hasMessageContaining("truncated header");
            assertThatThrownBy(() -> u.stageSafetensors(new byte[5])).isInstanceOf(WeightUpdateException.class)
                    .hasMessageContaining("truncated");
            assertThatThrownBy(() -> u.stageSafetensors(Arrays.copyOf(full, full.length - 1)))
                    .isInstanceOfSatisfying(WeightUpdateException.class, ex ->
                            assertThat(ex.tensorName()).isEqualTo("output.weight"))
                    .hasMessageContaining("data_offsets");

            byte[] badBytes = new SafetensorsWriter()
                    .putRaw("output_norm.weight", "F32", new long[] {256}, new byte[1000]).toByteArray();
            assertThatThrownBy(() -> u.stageSafetensors(badBytes)).isInstanceOf(WeightUpdateException.class)
                    .hasMessage("tensor 'output_norm.weight': 1000 bytes of data (expected: 256 F32 elements of "
                            + "shape [256] = 1024 bytes)");
            byte[] badDtype = new SafetensorsWriter()
                    .putRaw("output_norm.weight", "I64", new long[] {256}, new byte[2048]).toByteArray();
            assertThatThrownBy(() -> u.stageSafetensors(badDtype)).isInstanceOf(WeightUpdateException.class)
                    .hasMessage("tensor 'output_norm.weight': dtype \"I64\" (expected: F32, F16 or BF16)");
            byte[] notJson = header("{\"a\": ");
            assertThatThrownBy(() -> u.stageSafetensors(notJson)).isInstanceOf(WeightUpdateException.class)
                    .hasMessageContaining("not valid JSON");

            u.commit().join();
            assertSameTokens(greedy(e), before);
        }
    }

    private static byte[] header(String json) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h).array();
    }

    @Test
    void halfPrecisionPayloads_areConverted() {
        try (Engine e = new Engine(first, config())) {
            WeightUpdater u = new WeightUpdater(e);
            float[] twos = new float[256];
            Arrays.fill(twos, 2f);
            u.stageSafetensors(new SafetensorsWriter()
                    .putBf16("model.norm.weight", new long[] {256}, twos)
                    .putF16("model.layers.0.input_layernorm.weight", new long[] {256}, twos)
                    .putMetadata("format", "pt")
                    .toByteArray());
            u.commit().join();
            assertThat(e.weights().outputNorm()).containsOnly(2f);
            assertThat(e.weights().layers().getFirst().attnNorm()).containsOnly(2f);
            assertThat(e.weights().layers().get(1).attnNorm()).containsOnly(1f);
        }
    }

    @Test
    void stageFile_readsASafetensorsFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("model.safetensors");
        SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.HUGGING_FACE).writeTo(f);
        try (Engine e = new Engine(first, config())) {
            WeightUpdater u = new WeightUpdater(e);
            u.stageFile(f);
            u.commit().join();
            assertSameTokens(greedy(e), secondTokens);
            assertThatThrownBy(() -> u.stageFile(dir.resolve("missing.safetensors")))
                    .isInstanceOf(WeightUpdateException.class).hasMessageContaining("cannot read");
        }
        assertThat(Files.size(f)).isGreaterThan(0);
    }

    @Test
    void commitWhileAsleepAtLevel2_suppliesTheWeights_andWakingTheCacheServesThem() {
        try (LoadedModel own = LoadedModel.load(TestModels.tiny(GgmlType.F32)); Engine e = new Engine(own, config())) {
            e.sleep(2).join();
            WeightUpdater u = new WeightUpdater(e);
            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.GGUF,
                    n -> n.startsWith("blk.")).toByteArray());
            u.stageSafetensors(SafetensorsWriter.ofWeights(second.weights(), second.config(), Naming.GGUF,
                    n -> !n.startsWith("blk.")).toByteArray());
            u.commit().join();
            assertThat(e.weights()).isNotNull();
            assertThat(e.isSleeping()).isTrue();
            e.wakeUp(Set.of("kv_cache")).join();
            assertThat(e.isSleeping()).isFalse();
            assertSameTokens(greedy(e), secondTokens);
        }
    }

    @Test
    void tiedModel_skipsTheOutputProjection() {
        ModelSpec tied = ModelSpec.tiny(GgmlType.F32).withTied(true);
        try (LoadedModel a = LoadedModel.load(TestModels.generated(tied, "tiny-f32-tied.gguf"));
             LoadedModel b = LoadedModel.load(TestModels.generated(tied.withSeed(SECOND_SEED), "tiny-f32-tied-7.gguf"));
             Engine expected = new Engine(b, config());
             Engine e = new Engine(a, config())) {
            WeightUpdater u = new WeightUpdater(e);
            byte[] withHead = SafetensorsWriter.ofWeights(b.weights(), b.config(), Naming.HUGGING_FACE)
                    .putF32("lm_head.weight", new long[] {4096, 256}, new float[4096 * 256]).toByteArray();
            u.stageSafetensors(withHead);
            u.commit().join();
            WeightMatrix embd = e.weights().tokenEmbedding();
            assertThat(e.weights().output()).isSameAs(embd);
            assertSameTokens(greedy(e), greedy(expected));
        }
    }
}
