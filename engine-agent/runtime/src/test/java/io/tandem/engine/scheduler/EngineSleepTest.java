package io.tandem.engine.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.EngineSleepingException;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.sampling.FinishReason;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.testing.TestModels;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class EngineSleepTest {
    private LoadedModel model; // per test: a level-2 sleep unmaps it

    @BeforeEach
    void load() {
        model = LoadedModel.load(TestModels.tiny(GgmlType.F32));
    }

    @AfterEach
    void close() {
        model.close();
    }

    private static EngineConfig config() {
        return EngineConfig.defaults().withKvBlocks(64).withBlockSize(16).withThreads(2);
    }

    private static SamplingParams greedy(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    private int[] prompt(int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) {
            ids[i] = r.nextInt(model.config().vocabSize());
        }
        return ids;
    }

    /** Off-heap memory that counts what it allocates and frees. */
    private static final class CountingMemory implements KvMemoryProvider {
        final AtomicInteger allocated = new AtomicInteger();
        final AtomicInteger freed = new AtomicInteger();

        @Override
        public KvMemory allocate(long bytes) {
            KvMemory m = KvMemoryProvider.offHeap().allocate(bytes);
            allocated.incrementAndGet();
            return new KvMemory() {
                @Override
                public MemorySegment segment() {
                    return m.segment();
                }

                @Override
                public void close() {
                    freed.incrementAndGet();
                    m.close();
                }
            };
        }
    }

    @Test
    void sleepLevel1_refusesWork_freesTheArena_andWakeUpGivesTheSameTokens() {
        CountingMemory memory = new CountingMemory();
        try (Engine e = new Engine(model, config(), memory)) {
            List<KvCache> changes = new ArrayList<>();
            e.onKvCacheChanged(changes::add);
            int[] p = prompt(30, 1);
            int[] before = e.generate(GenerationRequest.of("a", p, greedy(12))).outputTokens();
            KvCache old = e.kvCache();

            e.sleep(1).join();
            assertThat(e.isSleeping()).isTrue();
            assertThat(memory.freed).hasValue(1);
            assertThat(old.isOpen()).isFalse();
            assertThat(e.kvCache().blocks().usedBlocks()).isZero();
            assertThat(e.stats().kvBlocksUsed()).isZero();
            assertThat(e.weights()).isNotNull(); // level 1 keeps the weights
            assertThatThrownBy(() -> e.submit(GenerationRequest.of("b", p, greedy(4)), GenerationListener.NONE))
                    .isInstanceOf(EngineSleepingException.class).hasMessageContaining("KV cache released");

            e.sleep(1).join(); // idempotent
            assertThat(memory.freed).hasValue(1);

            e.wakeUp(Set.of()).join();
            assertThat(e.isSleeping()).isFalse();
            assertThat(memory.allocated).hasValue(2);
            assertThat(e.kvCache()).isNotSameAs(old);
            assertThat(e.kvCache().isOpen()).isTrue();
            assertThat(changes).containsExactly(null, e.kvCache());
            assertThat(e.generate(GenerationRequest.of("c", p, greedy(12))).outputTokens()).containsExactly(before);
        }
        assertThat(memory.freed).hasValue(2);
    }

    @Test
    void sleepLevel2_unmapsTheWeights_andWakingBothTagsGivesTheSameTokens() {
        try (Engine e = new Engine(model, config())) {
            int[] p = prompt(25, 2);
            int[] before = e.generate(GenerationRequest.of("a", p, greedy(12))).outputTokens();

            e.sleep(2).join();
            assertThat(e.weights()).isNull();
            assertThat(model.isMapped()).isFalse();

            e.wakeUp(Set.of("weights")).join();
            assertThat(model.isMapped()).isTrue();
            assertThat(e.weights()).isNotNull();
            assertThat(e.isSleeping()).as("the KV cache is still released").isTrue();
            assertThatThrownBy(() -> e.submit(GenerationRequest.of("b", p, greedy(4)), GenerationListener.NONE))
                    .isInstanceOf(EngineSleepingException.class);

            e.wakeUp(Set.of("kv_cache")).join();
            assertThat(e.isSleeping()).isFalse();
            assertThat(e.generate(GenerationRequest.of("c", p, greedy(12))).outputTokens()).containsExactly(before);
        }
    }

    @Test
    void sleepLevel2_afterLevel1_releasesTheWeightsToo() {
        try (Engine e = new Engine(model, config())) {
            e.sleep(1).join();
            assertThat(model.isMapped()).isTrue();
            e.sleep(2).join();
            assertThat(model.isMapped()).isFalse();
            e.wakeUp(Set.of("kv_cache", "weights")).join();
            assertThat(e.isSleeping()).isFalse();
            assertThat(e.generate(GenerationRequest.of("a", prompt(5, 3), greedy(3))).outputTokens()).hasSize(3);
        }
    }

    @Test
    void sleep_abortsRunningAndQueuedRequests_andReleasesHeldCaches() throws Exception {
        try (Engine e = new Engine(model, config().withMaxRunning(1))) {
            e.generate(GenerationRequest.of("held", prompt(20, 4), greedy(1)).withKeepCache(true));
            assertThat(e.heldSessions()).containsExactly("held");

            CountDownLatch started = new CountDownLatch(1);
            List<GenerationResult> heard = new ArrayList<>();
            GenerationHandle running = e.submit(GenerationRequest.of("run", prompt(10, 5), greedy(1500)),
                    new GenerationListener() {
                        @Override
                        public void onToken(TokenOutput t) {
                            started.countDown();
                        }

                        @Override
                        public void onFinish(GenerationResult r) {
                            heard.add(r);
                        }
                    });
            GenerationHandle queued = e.submit(GenerationRequest.of("queued", prompt(10, 6), greedy(5)),
                    GenerationListener.NONE);
            assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();

            e.sleep(1).join();
            GenerationResult r = running.result().join();
            assertThat(r.finishReason()).isEqualTo(FinishReason.ABORT);
            assertThat(r.error()).isInstanceOf(EngineSleepingException.class);
            assertThat(heard).singleElement().extracting(GenerationResult::finishReason).isEqualTo(FinishReason.ABORT);
            assertThat(queued.result().join().error()).isInstanceOf(EngineSleepingException.class);
            assertThat(e.heldSessions()).isEmpty();
            assertThat(e.isLive("run")).isFalse();
        }
    }

    @Test
    void sleep_waitsForAKvTransferInFlight_beforeFreeingTheArena() {
        CountingMemory memory = new CountingMemory();
        try (Engine e = new Engine(model, config(), memory)) {
            CompletableFuture<Void> transfer = new CompletableFuture<>();
            CompletableFuture<int[]> filling = new CompletableFuture<>();
            GenerationHandle h = e.submit(GenerationRequest.of("m", prompt(20, 7), greedy(5))
                    .withMigration(new MigratedPrefill(3, ids -> {
                        filling.complete(ids);
                        return transfer;
                    })), GenerationListener.NONE);
            filling.join();

            CompletableFuture<Void> asleep = e.sleep(1);
            // The request's abort proves the sleep ran; the arena must stay while the filler may still write.
            assertThat(h.result().join().error()).isInstanceOf(EngineSleepingException.class);
            assertThat(asleep).isNotDone();
            assertThat(memory.freed).hasValue(0);

            transfer.complete(null);
            asleep.join();
            assertThat(memory.freed).hasValue(1);
        }
    }

    @Test
    void badArguments_areRefused() {
        try (Engine e = new Engine(model, config())) {
            assertThatThrownBy(() -> e.sleep(0)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("level: 0 (expected: 1 or 2)");
            assertThatThrownBy(() -> e.sleep(3)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> e.wakeUp(Set.of("weights", "gpu"))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("tag: 'gpu' (expected: weights or kv_cache)");
            assertThat(e.isSleeping()).isFalse();
        }
    }
}
