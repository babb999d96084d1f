package io.tandem.kv.layout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.kv.errors.IncompatibleParallelLayoutException;
import io.tandem.proto.EngineConfig;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RankPairingTest {

    static List<RankPair> pairs(int... p) {
        List<RankPair> out = new java.util.ArrayList<>();
        for (int i = 0; i < p.length; i += 2) {
            out.add(new RankPair(p[i], p[i + 1]));
        }
        return out;
    }

    @Test
    void pp4_vs_tp2pp2_isTheSeedsExample() {
        assertThat(RankPairing.pairs(new ParallelLayout(1, 4), new ParallelLayout(2, 2), 32, 8))
                .isEqualTo(pairs(0, 0, 0, 1, 1, 0, 1, 1, 2, 2, 2, 3, 3, 2, 3, 3));
    }

    @Test
    void tp4_vs_tp4_pairsEachRankWithItself() {
        assertThat(RankPairing.pairs(new ParallelLayout(4, 1), new ParallelLayout(4, 1), 32, 8))
                .isEqualTo(pairs(0, 0, 1, 1, 2, 2, 3, 3));
    }

    @Test
    void tp1_vs_tp1_isOnePair() {
        assertThat(RankPairing.pairs(new ParallelLayout(1, 1), new ParallelLayout(1, 1), 12, 4))
                .isEqualTo(pairs(0, 0));
    }

    @Test
    void tp1_vs_tp4_fansOutToEveryDecodeRank_andBack() {
        assertThat(RankPairing.pairs(new ParallelLayout(1, 1), new ParallelLayout(4, 1), 12, 4))
                .isEqualTo(pairs(0, 0, 0, 1, 0, 2, 0, 3));
        assertThat(RankPairing.pairs(new ParallelLayout(4, 1), new ParallelLayout(1, 1), 12, 4))
                .isEqualTo(pairs(0, 0, 1, 0, 2, 0, 3, 0));
    }

    @Test
    void tp2_vs_tp4_pairsEachHalfWithItsQuarters() {
        assertThat(RankPairing.pairs(new ParallelLayout(2, 1), new ParallelLayout(4, 1), 12, 8))
                .isEqualTo(pairs(0, 0, 0, 1, 1, 2, 1, 3));
    }

    @Test
    void pp2_vs_pp3_pairsOverlappingLayerRanges() {
        // 12 layers: P [0,6) [6,12); D [0,4) [4,8) [8,12): P0 overlaps D0,D1; P1 overlaps D1,D2
        assertThat(RankPairing.pairs(new ParallelLayout(1, 2), new ParallelLayout(1, 3), 12, 4))
                .isEqualTo(pairs(0, 0, 0, 1, 1, 1, 1, 2));
    }

    @Test
    void tp2pp2_vs_pp4_isTheSeedsExampleMirrored() {
        assertThat(RankPairing.pairs(new ParallelLayout(2, 2), new ParallelLayout(1, 4), 32, 8))
                .isEqualTo(pairs(0, 0, 0, 1, 1, 0, 1, 1, 2, 2, 2, 3, 3, 2, 3, 3));
    }

    @Test
    void tp2_vs_pp2_pairsEveryRankWithEveryRank() {
        // P ranks hold all layers of half the heads; D ranks hold half the layers of all heads
        assertThat(RankPairing.pairs(new ParallelLayout(2, 1), new ParallelLayout(1, 2), 12, 4))
                .isEqualTo(pairs(0, 0, 0, 1, 1, 0, 1, 1));
    }

    @Test
    void everyDecodeRankIsCovered_andPairsAreSymmetric_forRandomLayouts() {
        Random random = new Random(42);
        int[] sizes = {1, 2, 4, 8};
        for (int i = 0; i < 200; i++) {
            ParallelLayout p = new ParallelLayout(sizes[random.nextInt(4)], sizes[random.nextInt(4)]);
            ParallelLayout d = new ParallelLayout(sizes[random.nextInt(4)], sizes[random.nextInt(4)]);
            List<RankPair> pd = RankPairing.pairs(p, d, 32, 8);
            List<RankPair> dp = RankPairing.pairs(d, p, 32, 8);
            assertThat(pd.stream().map(RankPair::decodeRank).distinct().count()).isEqualTo(d.worldSize());
            assertThat(pd.stream().map(RankPair::prefillRank).distinct().count()).isEqualTo(p.worldSize());
            assertThat(dp.stream().map(x -> new RankPair(x.decodeRank(), x.prefillRank())).sorted(
                    java.util.Comparator.comparingInt(RankPair::prefillRank).thenComparingInt(RankPair::decodeRank))
                    .toList()).isEqualTo(pd);
            if (p.equals(d)) {
                assertThat(pd).allMatch(x -> x.prefillRank() == x.decodeRank()).hasSize(p.worldSize());
            }
        }
    }

    @Test
    void ppThatDoesNotDivideTheLayers_isRefused() {
        assertThatThrownBy(() -> RankPairing.pairs(new ParallelLayout(1, 1), new ParallelLayout(1, 5), 12, 4))
                .isInstanceOf(IncompatibleParallelLayoutException.class)
                .hasMessage("decode tp1pp5: pp_size 5 does not divide num_layers 12");
    }

    @Test
    void tpBeyondTheKvHeads_isRefused() {
        assertThatThrownBy(() -> RankPairing.pairs(new ParallelLayout(8, 1), new ParallelLayout(1, 1), 12, 4))
                .isInstanceOf(IncompatibleParallelLayoutException.class)
                .hasMessage("prefill tp8pp1: tp_size 8 does not divide num_kv_heads 4"
                        + " (replicated KV heads are not supported)");
    }

    @Test
    void badSizes_areRefused() {
        assertThatThrownBy(() -> new ParallelLayout(0, 1)).hasMessage("tpSize: 0 (expected: >= 1)");
        assertThatThrownBy(() -> RankPairing.pairs(new ParallelLayout(1, 1), new ParallelLayout(1, 1), 0, 4))
                .isInstanceOf(IncompatibleParallelLayoutException.class).hasMessageContaining("numLayers: 0");
    }

    @Test
    void engineConfig_unsetSizesMeanOne() {
        assertThat(ParallelLayout.of(EngineConfig.newBuilder().setTpSize(2).build()))
                .isEqualTo(new ParallelLayout(2, 1));
    }

    @Test
    void decodeRanksOf_listsOnePrefillRanksPeers() {
        assertThat(RankPairing.decodeRanksOf(2, new ParallelLayout(1, 4), new ParallelLayout(2, 2), 32, 8))
                .containsExactly(2, 3);
    }
}
