package io.tandem.engine.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.CacheSessionNotFoundException;
import io.tandem.engine.errors.ContextLengthExceededException;
import io.tandem.engine.errors.MigrationFailedException;
import io.tandem.engine.errors.QueueFullException;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.sampling.FinishReason;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.testing.MutableClock;
import io.tandem.engine.testing.TestModels;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EngineTest {
    private static LoadedModel tiny;

    @BeforeAll
    static void load() {
        tiny = LoadedModel.load(TestModels.tiny(GgmlType.F32));
    }

    @AfterAll
    static void close() {
        tiny.close();
    }

    private static EngineConfig config() {
        return EngineConfig.defaults().withKvBlocks(256).withBlockSize(16).withThreads(2);
    }

    private static SamplingParams greedy(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    private static int[] prompt(int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) {
            ids[i] = r.nextInt(tiny.config().vocabSize());
        }
        return ids;
    }

    private static int[] runAlone(EngineConfig cfg, int[] prompt, int maxTokens) {
        try (Engine e = new Engine(tiny, cfg)) {
            GenerationResult r = e.generate(GenerationRequest.of("alone", prompt, greedy(maxTokens)));
            assertThat(r.error()).isNull();
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
            return r.outputTokens();
        }
    }

    @Test
    void storiesModel_reproducesLlamaCppGreedyTexts() throws Exception {
        var json = new String(java.nio.file.Files.readAllBytes(
                TestModels.stories().resolveSibling("stories260K.reference.json")), java.nio.charset.StandardCharsets.UTF_8);
        var cases = java.util.regex.Pattern.compile(
                "\\{\"prompt\": \"(.*?)\", \"max_tokens\": (\\d+), \"text\": \"(.*?)\"}").matcher(json);
        int seen = 0;
        try (LoadedModel m = LoadedModel.load(TestModels.stories());
             Engine e = new Engine(m, EngineConfig.defaults().withKvBlocks(64).withBlockSize(16))) {
            while (cases.find()) {
                String prompt = cases.group(1);
                int maxTokens = Integer.parseInt(cases.group(2));
                String expected = cases.group(3).replace("\\n", "\n");
                int[] ids = m.tokenizer().encode(prompt, true, false);
                assertThat(ids[0]).isEqualTo(m.tokenizer().bosId());
                GenerationResult r = e.generate(GenerationRequest.of("s" + seen, ids,
                        SamplingParams.builder().temperature(0).maxTokens(maxTokens).build()));
                assertThat(prompt + r.text()).isEqualTo(expected);
                seen++;
            }
        }
        assertThat(seen).isEqualTo(2);
    }

    @Test
    void greedyTokens_sameAloneAndInsideBatchOfEight() {
        int[] lengths = {5, 33, 12, 70, 1, 48, 20, 9};
        List<int[]> alone = new ArrayList<>();
        for (int i = 0; i < lengths.length; i++) {
            alone.add(runAlone(config(), prompt(lengths[i], i), 16));
        }
        try (Engine e = new Engine(tiny, config())) {
            List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
            for (int i = 0; i < lengths.length; i++) {
                fs.add(e.submit(GenerationRequest.of("b" + i, prompt(lengths[i], i), greedy(16)),
                        GenerationListener.NONE).result());
            }
            for (int i = 0; i < lengths.length; i++) {
                assertThat(fs.get(i).join().outputTokens()).as("sequence %d", i).containsExactly(alone.get(i));
            }
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
        }
    }

    @Test
    void chunkedPrefill_matchesWholePrefill() {
        int[] p = prompt(150, 99);
        int[] whole = runAlone(config(), p, 12);
        int[] chunked = runAlone(config().withMaxBatchTokens(16), p, 12);
        assertThat(chunked).containsExactly(whole);
    }

    @Test
    void prefillInA_blocksCopiedToB_decodeInB_matchesOneEngine() {
        int[] p = prompt(40, 7);
        int[] expected = runAlone(config(), p, 20);
        try (Engine a = new Engine(tiny, config()); Engine b = new Engine(tiny, config().withKvBlocks(128))) {
            GenerationResult pre = a.generate(GenerationRequest.of("sess-1", p, greedy(1)).withKeepCache(true));
            HeldCache h = a.heldCache("sess-1").orElseThrow();
            assertThat(h.numTokens()).isEqualTo(40);
            assertThat(h.firstToken()).isEqualTo(pre.outputTokens()[0]).isEqualTo(expected[0]);
            assertThat(h.blockIds()).hasSize(3); // 40 positions in blocks of 16
            assertThat(h.layout()).isEqualTo(b.kvCache().layout());
            // Occupy some of B's blocks so that the copies land at other ids than in A.
            b.kvCache().blocks().allocate(5);

            MigratedPrefill m = new MigratedPrefill(h.firstToken(), local -> {
                KvCache src = a.kvCache();
                KvCache dst = b.kvCache();
                for (int i = 0; i < local.length; i++) {
                    MemorySegment.copy(src.block(h.blockIds()[i]), 0, dst.block(local[i]), 0, src.layout().blockBytes());
                }
                a.releaseCache("sess-1");
                return CompletableFuture.completedFuture(null);
            });
            GenerationResult r = b.generate(GenerationRequest.of("dec-1", p, greedy(20)).withMigration(m));
            assertThat(r.outputTokens()).containsExactly(expected);
            assertThat(a.kvCache().blocks().usedBlocks()).isZero();
            assertThat(b.kvCache().blocks().usedBlocks()).isEqualTo(5);
            assertThat(b.stats().promptTokens()).isZero(); // the prompt was never computed in B
        }
    }

    @Test
    void failedMigration_failsTheRequestAndFreesItsBlocks() {
        try (Engine b = new Engine(tiny, config())) {
            MigratedPrefill m = new MigratedPrefill(3,
                    local -> CompletableFuture.failedFuture(new IllegalStateException("peer went away")));
            GenerationResult r = b.generate(GenerationRequest.of("x", prompt(20, 1), greedy(5)).withMigration(m));
            assertThat(r.finishReason()).isEqualTo(FinishReason.ABORT);
            assertThat(r.error()).isInstanceOf(MigrationFailedException.class).hasMessageContaining("peer went away");
            assertThat(b.kvCache().blocks().usedBlocks()).isZero();
            // The engine still serves.
            assertThat(b.generate(GenerationRequest.of("y", prompt(3, 2), greedy(2))).outputTokens()).hasSize(2);
        }
    }

    @Test
    void blocks_returnToZeroAfterFinishAbortAndPreemption() throws Exception {
        // 12 blocks of 16 = 192 positions for 6 sequences that together need ~6 x 60: preemption is forced.
        EngineConfig small = config().withKvBlocks(12);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            prompts.add(prompt(20 + i, 100 + i));
        }
        List<int[]> alone = new ArrayList<>();
        for (int[] p : prompts) {
            alone.add(runAlone(config(), p, 40));
        }
        try (Engine e = new Engine(tiny, small)) {
            List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                fs.add(e.submit(GenerationRequest.of("p" + i, prompts.get(i), greedy(40)), GenerationListener.NONE).result());
            }
            for (int i = 0; i < prompts.size(); i++) {
                // Recomputation after preemption gives the same greedy tokens.
                assertThat(fs.get(i).join().outputTokens()).as("sequence %d", i).containsExactly(alone.get(i));
            }
            assertThat(e.stats().preemptions()).isPositive();
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();

            // Abort mid-stream.
            AtomicInteger seen = new AtomicInteger();
            CompletableFuture<GenerationResult> f = e.submit(GenerationRequest.of("ab", prompts.get(0), greedy(500)),
                    new GenerationListener() {
                        @Override
                        public void onToken(TokenOutput t) {
                            if (seen.incrementAndGet() == 3) {
                                e.abort("ab");
                            }
                        }

                        @Override
                        public void onFinish(GenerationResult r) {
                        }
                    }).result();
            GenerationResult r = f.join();
            assertThat(r.finishReason()).isEqualTo(FinishReason.ABORT);
            assertThat(r.outputTokens().length).isLessThan(500);
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
            assertThat(e.stats().running()).isZero();
        }
    }

    @Test
    void streamedText_equalsFinalText_andStopStringEndsIt() {
        try (Engine e = new Engine(tiny, config())) {
            StringBuilder streamed = new StringBuilder();
            GenerationResult full = e.submit(GenerationRequest.of("s", prompt(8, 5), greedy(30)), new GenerationListener() {
                @Override
                public void onToken(TokenOutput t) {
                    streamed.append(t.text());
                }

                @Override
                public void onFinish(GenerationResult r) {
                }
            }).result().join();
            assertThat(full.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(full.outputTokens()).hasSize(30);
            assertThat(streamed.toString()).isEqualTo(full.text());
            String text = full.text();
            assertThat(text.length()).isGreaterThan(6);
            String stop = text.substring(text.length() / 2, text.length() / 2 + 3);
            SamplingParams withStop = SamplingParams.builder().temperature(0).maxTokens(30).ignoreEos(true)
                    .stop(List.of(stop)).build();
            GenerationResult r = e.generate(GenerationRequest.of("s2", prompt(8, 5), withStop));
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            assertThat(r.stopReason()).isEqualTo(stop);
            assertThat(r.text()).isEqualTo(text.substring(0, text.indexOf(stop)));
        }
    }

    @Test
    void badRequests_areRefusedAtSubmit_andTheEngineKeepsServing() {
        try (Engine e = new Engine(tiny, config().withMaxModelLen(64))) {
            assertThatThrownBy(() -> e.submit(GenerationRequest.of("a", prompt(64, 1), greedy(4)), GenerationListener.NONE))
                    .isInstanceOf(ContextLengthExceededException.class).hasMessageContaining("64");
            assertThatThrownBy(() -> e.submit(GenerationRequest.of("b", new int[] {1, 999_999}, greedy(4)),
                    GenerationListener.NONE)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("prompt token 1: 999999");
            assertThatThrownBy(() -> e.releaseCache("nope")).isInstanceOf(CacheSessionNotFoundException.class);
            GenerationResult r = e.generate(GenerationRequest.of("c", prompt(60, 1), greedy(100)));
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(r.outputTokens()).hasSize(4); // stopped at the 64-token context
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
        }
    }

    @Test
    void fullQueue_answersQueueFull() {
        try (Engine e = new Engine(tiny, config().withMaxRunning(1).withMaxWaiting(2))) {
            List<CompletableFuture<GenerationResult>> accepted = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < 6; i++) {
                try {
                    accepted.add(e.submit(GenerationRequest.of("q" + i, prompt(4, i), greedy(50)),
                            GenerationListener.NONE).result());
                } catch (QueueFullException ex) {
                    refused++;
                }
            }
            assertThat(refused).isPositive();
            accepted.forEach(f -> assertThat(f.join().outputTokens()).hasSize(50));
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
        }
    }

    @Test
    void heldCache_isFreedWhenItsLeaseRunsOut() {
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        try (Engine e = new Engine(tiny, config().withClock(clock).withCacheLease(Duration.ofSeconds(60)))) {
            e.generate(GenerationRequest.of("held", prompt(30, 3), greedy(1)).withKeepCache(true));
            assertThat(e.kvCache().blocks().usedBlocks()).isEqualTo(2);
            assertThat(e.releaseExpired()).isZero();
            clock.advance(Duration.ofSeconds(61));
            e.releaseExpired(); // the loop may have beaten us to it; either way the lease is over
            assertThat(e.heldCache("held")).isEmpty();
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
        }
    }

    @Test
    void stepThatThrows_failsItsSequencesOnly_andTheLoopKeepsServing() {
        try (Engine e = new Engine(tiny, config())) {
            var good = e.weights();
            // Weights missing their last layer make the forward pass throw inside the step.
            var broken = new io.tandem.engine.model.ModelWeights(good.tokenEmbedding(),
                    good.layers().subList(0, good.layers().size() - 1), good.outputNorm(), good.output(),
                    good.ropeFreqFactors());
            e.swapWeights(broken).join();
            GenerationResult r = e.generate(GenerationRequest.of("boom", prompt(10, 1), greedy(5)));
            assertThat(r.finishReason()).isEqualTo(FinishReason.ABORT);
            assertThat(r.error()).isInstanceOf(IndexOutOfBoundsException.class);
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
            e.swapWeights(good).join();
            assertThat(e.generate(GenerationRequest.of("ok", prompt(10, 1), greedy(5))).outputTokens()).hasSize(5);
        }
    }
}
