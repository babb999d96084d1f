package io.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.tandem.engine.errors.InvalidSamplingParamsException;
import io.tandem.engine.errors.NoAllowedTokenException;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final int[] NONE = new int[0];

    private static Sampler sampler(SamplingParams p, int vocab) {
        return new Sampler(p, vocab, NONE, NONE);
    }

    private static SamplingParams.Builder seeded(long seed) {
        return SamplingParams.builder().seed(seed).maxTokens(1000);
    }

    /** logits whose softmax is exactly {@code probs} (up to float rounding). */
    private static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            l[i] = (float) Math.log(probs[i]);
        }
        return l;
    }

    private static double[] softmax(float[] logits, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp((logits[i] - max) / temperature);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** Draws {@code n} tokens without accepting them (no penalties involved) and counts them. */
    private static int[] histogram(Sampler s, float[] logits, int n) {
        int[] counts = new int[logits.length];
        for (int i = 0; i < n; i++) {
            counts[s.sample(logits, 0, null, true).token()]++;
        }
        return counts;
    }

    /**
     * Pearson chi-square of observed counts against expected probabilities; tokens with zero expected probability
     * must never occur.
     */
    private static void assertDistribution(int[] counts, double[] expected) {
        int n = Arrays.stream(counts).sum();
        double chi2 = 0;
        int df = -1;
        for (int i = 0; i < counts.length; i++) {
            if (expected[i] == 0) {
                assertThat(counts[i]).as("count of impossible token %d", i).isZero();
                continue;
            }
            double e = expected[i] * n;
            chi2 += (counts[i] - e) * (counts[i] - e) / e;
            df++;
        }
        // 99.99th percentile of chi-square is below 4 * df + 20 for df <= 30; with a fixed seed the test is
        // deterministic, the bound just has to be one a correct sampler passes and a biased one does not.
        assertThat(chi2).as("chi-square with %d degrees of freedom, counts %s vs %s", df,
                Arrays.toString(counts), Arrays.toString(expected)).isLessThan(4.0 * df + 20);
    }

    // --- greedy ---------------------------------------------------------------------------------------------

    @Test
    void greedyPicksArgmaxAndLowestIdOnTies() {
        Sampler s = sampler(SamplingParams.greedy(10), 6);
        assertThat(s.sample(new float[] {1f, 3f, -2f, 2.5f, 0f, 1f}, 0, null, true).token()).isEqualTo(1);
        assertThat(s.sample(new float[] {1f, 5f, 3f, 5f, 5f, -1f}, 0, null, true).token()).isEqualTo(1);
        assertThat(s.sample(new float[] {-7f, -7f, -7f, -7f, -7f, -7f}, 0, null, true).token()).isZero();
    }

    @Test
    void greedyReadsTheRowAtOffsetAndLeavesCallerLogitsAlone() {
        float[] batch = {9f, 9f, 9f, /* row starts */ 0f, 2f, 1f, /* next row */ 9f};
        float[] before = batch.clone();
        Sampler s = new Sampler(SamplingParams.builder().temperature(0).repetitionPenalty(3).build(), 3,
                new int[] {1}, NONE);
        assertThat(s.sample(batch, 3, (l, off, n) -> l[off + 2] = Float.NEGATIVE_INFINITY, true).token())
                .isEqualTo(1);
        assertThat(batch).containsExactly(before);
    }

    @Test
    void greedyIsIndependentOfSeed() {
        Random r = new Random(1);
        float[] logits = new float[500];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) r.nextGaussian();
        }
        int a = sampler(SamplingParams.greedy(1).toBuilder().seed(1L).build(), 500).sample(logits, 0, null)
                .token();
        int b = sampler(SamplingParams.greedy(1).toBuilder().seed(2L).build(), 500).sample(logits, 0, null)
                .token();
        assertThat(a).isEqualTo(b);
    }

    // --- randomness ---------------------------------------------------------------------------------------

    @Test
    void sameSeedReproducesAndDifferentSeedsDiffer() {
        float[] logits = new float[1000]; // uniform: every draw is decided by the generator alone
        int[] a = new int[50];
        int[] b = new int[50];
        int[] c = new int[50];
        Sampler sa = sampler(seeded(7).build(), 1000);
        Sampler sb = sampler(seeded(7).build(), 1000);
        Sampler sc = sampler(seeded(8).build(), 1000);
        for (int i = 0; i < 50; i++) {
            a[i] = sa.sample(logits, 0, null, true).token();
            b[i] = sb.sample(logits, 0, null, true).token();
            c[i] = sc.sample(logits, 0, null, true).token();
        }
        assertThat(a).isEqualTo(b);
        assertThat(c).isNotEqualTo(a);
        assertThat(sa.seed()).isEqualTo(7L);
    }

    @Test
    void seededOutputIsPinnedAcrossRuns() {
        // Guards cross-run reproducibility: a change of generator, draw count or scan order breaks it.
        float[] logits = new float[100];
        Sampler s = sampler(seeded(2024).build(), 100);
        int[] got = new int[8];
        for (int i = 0; i < got.length; i++) {
            got[i] = s.sample(logits, 0, null, true).token();
        }
        Xoshiro256PlusPlus ref = new Xoshiro256PlusPlus(2024);
        int[] expected = new int[8];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = (int) (ref.nextDouble() * 100); // uniform over 100 tokens: floor(u * 100)
        }
        assertThat(got).isEqualTo(expected);
    }

    @Test
    void unseededSamplersDrawTheirOwnSeed() {
        assertThat(sampler(SamplingParams.builder().build(), 10).seed())
                .isNotEqualTo(sampler(SamplingParams.builder().build(), 10).seed());
    }

    @Test
    void temperatureOneMatchesSoftmax() {
        float[] logits = {0f, 1f, 2f, 0.5f, -1f, 1.5f, 0.2f, -0.5f};
        int[] counts = histogram(sampler(seeded(42).build(), logits.length), logits, 200_000);
        assertDistribution(counts, softmax(logits, 1.0));
    }

    @Test
    void temperatureSharpensAndFlattens() {
        float[] logits = {0f, 1f, 2f, 0.5f, -1f, 1.5f, 0.2f, -0.5f};
        int n = 100_000;
        int[] cold = histogram(sampler(seeded(1).temperature(0.5).build(), 8), logits, n);
        int[] warm = histogram(sampler(seeded(1).temperature(1.0).build(), 8), logits, n);
        int[] hot = histogram(sampler(seeded(1).temperature(2.0).build(), 8), logits, n);
        assertDistribution(cold, softmax(logits, 0.5));
        assertDistribution(hot, softmax(logits, 2.0));
        assertThat(cold[2]).isGreaterThan(warm[2] + 5000); // argmax gains mass when cold
        assertThat(hot[2]).isLessThan(warm[2] - 5000);
        assertThat(hot[4]).isGreaterThan(warm[4]); // the least likely token gains when hot
    }

    // --- filters ------------------------------------------------------------------------------------------

    @Test
    void topKOneEqualsGreedy() {
        Random r = new Random(3);
        Sampler topK1 = sampler(seeded(5).topK(1).temperature(1.5).build(), 2000);
        Sampler greedy = sampler(SamplingParams.greedy(1000), 2000);
        for (int row = 0; row < 30; row++) {
            float[] logits = new float[2000];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) r.nextGaussian() * 3;
            }
            if (row % 3 == 0) { // a tie for first place: both must take the lower id
                logits[1500] = 50f;
                logits[700] = 50f;
            }
            assertThat(topK1.sample(logits, 0, null, true).token())
                    .isEqualTo(greedy.sample(logits, 0, null, true).token());
        }
    }

    @Test
    void topKRenormalizesOverTheKBest() {
        float[] logits = {0f, 1f, 2f, 0.5f, -1f, 1.5f, 0.2f, -0.5f};
        int[] counts = histogram(sampler(seeded(9).topK(3).build(), 8), logits, 100_000);
        double[] expected = softmax(new float[] {Float.NEGATIVE_INFINITY, 1f, 2f, Float.NEGATIVE_INFINITY,
                Float.NEGATIVE_INFINITY, 1.5f, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}, 1.0);
        assertDistribution(counts, expected);
    }

    @Test
    void topPKeepsSmallestPrefixReachingP() {
        float[] logits = logitsOf(0.15, 0.5, 0.05, 0.3); // sorted: 1 (0.5), 3 (0.3), 0 (0.15), 2 (0.05)
        int n = 50_000;
        assertDistribution(histogram(sampler(seeded(1).topP(0.4).build(), 4), logits, n),
                new double[] {0, 1, 0, 0});
        assertDistribution(histogram(sampler(seeded(2).topP(0.75).build(), 4), logits, n),
                new double[] {0, 0.5 / 0.8, 0, 0.3 / 0.8});
        assertDistribution(histogram(sampler(seeded(3).topP(0.85).build(), 4), logits, n),
                new double[] {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95});
        assertDistribution(histogram(sampler(seeded(4).topP(0.99).build(), 4), logits, n),
                new double[] {0.15, 0.5, 0.05, 0.3});
    }

    @Test
    void topPAppliesAfterTopKOnTheRenormalizedMass() {
        // top_k=3 leaves {1: .5, 3: .3, 0: .15}, renormalized to .526, .316, .158 (cumulative .526, .842).
        // top_p=0.83 keeps {1, 3} only on the renormalized mass; on the raw mass (.5, .8) it would keep three.
        float[] logits = logitsOf(0.15, 0.5, 0.05, 0.3);
        assertDistribution(histogram(sampler(seeded(5).topK(3).topP(0.83).build(), 4), logits, 50_000),
                new double[] {0, 0.5 / 0.8, 0, 0.3 / 0.8});
        assertDistribution(histogram(sampler(seeded(6).topK(3).topP(0.9).build(), 4), logits, 50_000),
                new double[] {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95});
    }

    @Test
    void topPWidensItsSelectionOnFlatDistributions() {
        // 5000 equal logits, top_p 0.5: exactly ids 0..2499 survive (ties break to lower ids), which needs the
        // selection to widen from its first 64 candidates several times.
        int vocab = 5000;
        Sampler s = sampler(seeded(11).topP(0.5).build(), vocab);
        float[] logits = new float[vocab];
        int below1250 = 0;
        for (int i = 0; i < 4000; i++) {
            int t = s.sample(logits, 0, null, true).token();
            assertThat(t).isBetween(0, 2499);
            if (t < 1250) {
                below1250++;
            }
        }
        assertThat(below1250).isBetween(1800, 2200);
    }

    @Test
    void minPDropsTokensBelowMinPTimesMax() {
        float[] logits = logitsOf(0.15, 0.5, 0.05, 0.3);
        // min_p 0.2: threshold 0.1 drops token 2 (0.05)
        assertDistribution(histogram(sampler(seeded(1).minP(0.2).build(), 4), logits, 50_000),
                new double[] {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95});
        // min_p 0.7: threshold 0.35 keeps only token 1
        assertDistribution(histogram(sampler(seeded(2).minP(0.7).build(), 4), logits, 20_000),
                new double[] {0, 1, 0, 0});
        // min_p uses the temperature-scaled distribution: at T=2 probabilities ~ sqrt(p), normalized by the
        // max sqrt(.5) = .707; sqrt(.05) = .224 is then above 0.2 * .707, so token 2 survives
        int[] hot = histogram(sampler(seeded(3).minP(0.2).temperature(2).build(), 4), logits, 20_000);
        assertThat(hot[2]).isPositive();
    }

    // --- penalties ----------------------------------------------------------------------------------------

    /** A mask that records what it is shown: the logits after penalties, before temperature. */
    private static final class Capture implements LogitsMask {
        float[] seen;

        @Override
        public void apply(float[] logits, int offset, int vocabSize) {
            seen = Arrays.copyOfRange(logits, offset, offset + vocabSize);
        }
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        Sampler s = new Sampler(seeded(1).repetitionPenalty(2).build(), 6, new int[] {0, 1, 0}, NONE);
        s.accept(4); // output tokens count too
        Capture c = new Capture();
        s.sample(new float[] {2f, -2f, 2f, -2f, 0.5f, 0f}, 0, c, true);
        assertThat(c.seen).containsExactly(1f, -4f, 2f, -2f, 0.25f, 0f);
    }

    @Test
    void repetitionPenaltyChangesTheGreedyChoice() {
        Sampler s = new Sampler(SamplingParams.greedy(10).toBuilder().repetitionPenalty(1.5).build(), 3,
                new int[] {0}, NONE);
        float[] logits = {3f, 2.5f, -1f};
        assertThat(s.sample(logits, 0, null, true).token()).isEqualTo(1); // 3 / 1.5 = 2 < 2.5
        s.accept(1);
        assertThat(s.sample(logits, 0, null, true).token()).isEqualTo(0); // 2.5 / 1.5 = 1.67 < 2
    }

    @Test
    void presenceAndFrequencyPenaltiesFollowOpenAiOverOutputTokensOnly() {
        // OpenAI: mu[j] -= c[j] * alpha_frequency + (c[j] > 0) * alpha_presence, c counting output tokens.
        Sampler s = new Sampler(seeded(1).presencePenalty(0.5).frequencyPenalty(0.25).build(), 5,
                new int[] {0, 1}, NONE);
        s.accept(2);
        s.accept(3);
        s.accept(2);
        Capture c = new Capture();
        s.sample(new float[] {1f, 1f, 1f, 1f, 1f}, 0, c, true);
        assertThat(c.seen[0]).isEqualTo(1f); // prompt-only tokens are not penalized
        assertThat(c.seen[1]).isEqualTo(1f);
        assertThat(c.seen[2]).isCloseTo(1f - (2 * 0.25f + 0.5f), within(1e-6f));
        assertThat(c.seen[3]).isCloseTo(1f - (0.25f + 0.5f), within(1e-6f));
        assertThat(c.seen[4]).isEqualTo(1f);
    }

    @Test
    void negativePenaltiesEncourageRepeats() {
        Sampler s = new Sampler(SamplingParams.greedy(10).toBuilder().frequencyPenalty(-1).build(), 3, NONE,
                NONE);
        float[] logits = {1f, 1.5f, 0f};
        assertThat(s.sample(logits, 0, null, true).token()).isEqualTo(1);
        s.accept(0); // forced token, e.g. from the prefill engine
        assertThat(s.sample(logits, 0, null, true).token()).isEqualTo(0); // 1 + 1 = 2 > 1.5
    }

    @Test
    void withoutPenaltiesAcceptOnlyCounts() {
        Sampler s = sampler(SamplingParams.greedy(10), 3);
        Capture c = new Capture();
        s.accept(0);
        s.accept(0);
        s.sample(new float[] {1f, 2f, 3f}, 0, c, true);
        assertThat(c.seen).containsExactly(1f, 2f, 3f);
        assertThat(s.generatedTokens()).isEqualTo(2);
    }

    // --- logprobs -----------------------------------------------------------------------------------------

    @Test
    void logprobsAreLogSoftmaxOfRawLogitsWithSortedTopList() {
        Random r = new Random(5);
        int vocab = 3000;
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) (r.nextGaussian() * 4);
        }
        logits[10] = logits[20] = 25f; // tie at the top: lower id first
        // Knobs that change the sampling distribution must not change reported logprobs.
        Sampler s = new Sampler(seeded(3).temperature(0.7).topK(50).repetitionPenalty(1.3)
                .presencePenalty(1).logprobs(5).build(), vocab, new int[] {10}, NONE);
        s.accept(20);
        SampledToken t = s.sample(logits, 0, null, true);

        double[] p = softmax(logits, 1.0);
        assertThat((double) t.logprob()).isCloseTo(Math.log(p[t.token()]), within(1e-4));
        assertThat(t.hasLogprobs()).isTrue();

        Integer[] order = new Integer[vocab];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : a - b);
        assertThat(t.top()).hasSize(5);
        for (int j = 0; j < 5; j++) {
            assertThat(t.top()[j].token()).isEqualTo(order[j]);
            assertThat((double) t.top()[j].logprob()).isCloseTo(Math.log(p[order[j]]), within(1e-4));
        }
        assertThat(t.top()[0].token()).isEqualTo(10);
        assertThat(t.top()[1].token()).isEqualTo(20);
        for (int j = 1; j < 5; j++) {
            assertThat(t.top()[j].logprob()).isLessThanOrEqualTo(t.top()[j - 1].logprob());
        }
    }

    @Test
    void logprobsZeroReportsOnlyTheChosenToken() {
        Sampler s = sampler(SamplingParams.greedy(1).toBuilder().logprobs(0).build(), 3);
        SampledToken t = s.sample(new float[] {0f, 0f, Float.NEGATIVE_INFINITY}, 0, null, true);
        assertThat(t.token()).isZero();
        assertThat((double) t.logprob()).isCloseTo(Math.log(0.5), within(1e-6));
        assertThat(t.top()).isEmpty();
    }

    @Test
    void logprobsOffByDefault() {
        SampledToken t = sampler(SamplingParams.greedy(1), 3).sample(new float[] {0f, 1f, 2f}, 0, null, true);
        assertThat(t.hasLogprobs()).isFalse();
        assertThat(t.logprob()).isNaN();
        assertThat(t.top()).isEmpty();
    }

    // --- masks and end of generation ----------------------------------------------------------------------

    @Test
    void maskForbidsTokens() {
        int vocab = 100;
        LogitsMask onlyThreeAndSeven = (l, off, n) -> {
            for (int i = 0; i < n; i++) {
                if (i != 3 && i != 7) {
                    l[off + i] = Float.NEGATIVE_INFINITY;
                }
            }
        };
        float[] logits = new float[vocab];
        logits[50] = 10f;
        logits[7] = 1f;
        assertThat(sampler(SamplingParams.greedy(1), vocab).sample(logits, 0, onlyThreeAndSeven, true).token())
                .isEqualTo(7);
        Sampler s = sampler(seeded(1).build(), vocab);
        int[] counts = new int[vocab];
        for (int i = 0; i < 5000; i++) {
            counts[s.sample(logits, 0, onlyThreeAndSeven, true).token()]++;
        }
        double p7 = Math.E / (1 + Math.E);
        double[] expected = new double[vocab];
        expected[3] = 1 - p7;
        expected[7] = p7;
        assertDistribution(counts, expected);
    }

    @Test
    void eosNotAllowedNeverYieldsEndOfGenerationIds() {
        int[] eog = {2, 5};
        float[] logits = {0f, 0f, 20f, 0f, 0f, 20f};
        Sampler greedy = new Sampler(SamplingParams.greedy(10), 6, NONE, eog);
        assertThat(greedy.sample(logits, 0, null, false).token()).isZero();
        assertThat(greedy.sample(logits, 0, null, true).token()).isEqualTo(2);

        Sampler s = new Sampler(seeded(1).build(), 6, NONE, eog);
        for (int i = 0; i < 2000; i++) {
            assertThat(s.sample(logits, 0, null, false).token()).isNotIn(2, 5);
        }
    }

    @Test
    void minTokensSuppressesEosAndStopTokenIdsUntilReached() {
        int[] eog = {2};
        float[] logits = {0f, 0f, 20f, 19f};
        Sampler s = new Sampler(SamplingParams.greedy(10).toBuilder().minNewTokens(2).stopTokenIds(Set.of(3))
                .build(), 4, NONE, eog);
        assertThat(s.eosAllowed()).isFalse();
        assertThat(s.sample(logits, 0, null).token()).isZero();
        s.accept(0);
        assertThat(s.sample(logits, 0, null).token()).isZero();
        s.accept(0);
        assertThat(s.eosAllowed()).isTrue();
        assertThat(s.sample(logits, 0, null).token()).isEqualTo(2);
        // with EOS explicitly disallowed, the stop token id is allowed again once min_tokens is reached
        assertThat(s.sample(logits, 0, null, false).token()).isEqualTo(3);
    }

    @Test
    void ignoreEosSuppressesEndOfGenerationForever() {
        Sampler s = new Sampler(SamplingParams.greedy(10).toBuilder().ignoreEos(true).build(), 3, NONE,
                new int[] {1});
        for (int i = 0; i < 5; i++) {
            assertThat(s.sample(new float[] {0f, 9f, 1f}, 0, null).token()).isEqualTo(2);
            s.accept(2);
        }
    }

    @Test
    void nothingAllowedIsATypedError() {
        LogitsMask all = (l, off, n) -> Arrays.fill(l, off, off + n, Float.NEGATIVE_INFINITY);
        assertThatThrownBy(() -> sampler(SamplingParams.greedy(1), 4).sample(new float[4], 0, all, true))
                .isInstanceOf(NoAllowedTokenException.class).hasMessageContaining("all 4 logits");
        assertThatThrownBy(() -> sampler(seeded(1).build(), 4).sample(new float[4], 0, all, true))
                .isInstanceOf(NoAllowedTokenException.class);
        float[] nan = {Float.NaN, Float.NaN};
        assertThatThrownBy(() -> sampler(seeded(1).build(), 2).sample(nan, 0, null, true))
                .isInstanceOf(NoAllowedTokenException.class);
    }

    @Test
    void nanLogitsAreNeverChosen() {
        float[] logits = {Float.NaN, 1f, Float.NaN, 0f};
        assertThat(sampler(SamplingParams.greedy(1), 4).sample(logits, 0, null, true).token()).isEqualTo(1);
        Sampler s = sampler(seeded(1).build(), 4);
        for (int i = 0; i < 500; i++) {
            assertThat(s.sample(logits, 0, null, true).token()).isIn(1, 3);
        }
    }

    @Test
    void vectorizedPassesHandleNanMinPAndTailsOnLargeVocabularies() {
        // 1003 tokens: many full vectors plus a scalar tail, whatever the machine's vector width.
        int vocab = 1003;
        float[] logits = new float[vocab];
        Arrays.fill(logits, -5f);
        for (int i = 0; i < vocab; i += 7) {
            logits[i] = Float.NaN;
        }
        logits[500] = 2f;
        logits[1001] = 2f; // in the tail
        logits[3] = 1f;
        logits[1002] = Float.NEGATIVE_INFINITY;
        double[] expected = new double[vocab];
        double z = 2 * Math.exp(2) + Math.exp(1);
        expected[500] = Math.exp(2) / z;
        expected[1001] = Math.exp(2) / z;
        expected[3] = Math.exp(1) / z;
        // min_p 0.3: exp(1)/exp(2) = .37 survives, exp(-5)/exp(2) does not
        int[] counts = new int[vocab];
        Sampler s = sampler(seeded(4).minP(0.3).build(), vocab);
        for (int i = 0; i < 20_000; i++) {
            counts[s.sample(logits, 0, null, true).token()]++;
        }
        assertDistribution(counts, expected);
    }

    // --- argument checks ----------------------------------------------------------------------------------

    @Test
    void constructorRejectsIdsOutsideTheVocabulary() {
        assertThatThrownBy(() -> new Sampler(SamplingParams.builder().stopTokenIds(Set.of(10)).build(), 10, NONE,
                NONE)).isInstanceOfSatisfying(InvalidSamplingParamsException.class,
                        e -> assertThat(e.parameter()).isEqualTo("stop_token_ids"))
                .hasMessageContaining("stop_token_ids: contains 10");
        assertThatThrownBy(() -> new Sampler(SamplingParams.builder().build(), 10, new int[] {3, 10}, NONE))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("promptTokens[1]: 10 (expected: 0 <= token < vocabSize = 10)");
        assertThatThrownBy(() -> new Sampler(SamplingParams.builder().build(), 10, NONE, new int[] {-1}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("endOfGenerationIds[0]: -1");
        Sampler s = sampler(SamplingParams.builder().build(), 10);
        assertThatThrownBy(() -> s.accept(10)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> s.sample(new float[12], 3, null, true))
                .isInstanceOf(IndexOutOfBoundsException.class);
    }
}
