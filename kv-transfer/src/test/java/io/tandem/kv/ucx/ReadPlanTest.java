package io.tandem.kv.ucx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.kv.ucx.ReadPlan.Read;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReadPlanTest {

    @Test
    void runsConsecutiveOnBothSides_becomeOneRead() {
        assertThat(ReadPlan.plan(new int[] {4, 5, 6, 9, 10}, new int[] {0, 1, 2, 3, 4}, 100, 20, 20, 1 << 20))
                .containsExactly(new Read(400, 0, 300), new Read(900, 300, 200));
    }

    @Test
    void consecutiveRemoteButNotLocal_isSplit() {
        assertThat(ReadPlan.plan(new int[] {1, 2, 3}, new int[] {7, 5, 6}, 10, 20, 20, 1 << 20))
                .containsExactly(new Read(10, 70, 10), new Read(20, 50, 20));
    }

    @Test
    void descendingIds_areNotCoalesced() {
        assertThat(ReadPlan.plan(new int[] {3, 2}, new int[] {3, 2}, 10, 20, 20, 1 << 20)).hasSize(2);
    }

    @Test
    void longRuns_areSplitAtMaxReadBytes() {
        int[] ids = {0, 1, 2, 3, 4};
        assertThat(ReadPlan.plan(ids, ids, 10, 20, 20, 20))
                .containsExactly(new Read(0, 0, 20), new Read(20, 20, 20), new Read(40, 40, 10));
    }

    @Test
    void emptyMigration_isNoRead() {
        assertThat(ReadPlan.plan(new int[0], new int[0], 10, 20, 20, 100)).isEmpty();
    }

    @Test
    void badIds_areRefusedWithTheIndex() {
        assertThatThrownBy(() -> ReadPlan.plan(new int[] {0, 20}, new int[] {0, 1}, 10, 20, 30, 100))
                .hasMessage("remoteBlockIds[1]: 20 (expected: 0 <= id < 20)");
        assertThatThrownBy(() -> ReadPlan.plan(new int[] {0}, new int[] {-3}, 10, 20, 30, 100))
                .hasMessage("localBlockIds[0]: -3 (expected: 0 <= id < 30)");
        assertThatThrownBy(() -> ReadPlan.plan(new int[] {0}, new int[] {0, 1}, 10, 20, 30, 100))
                .hasMessage("localBlockIds.length: 2 (expected: remoteBlockIds.length 1)");
    }

    @Test
    void offsets_doNotOverflowForLargeArenas() {
        long blockBytes = 3L << 20; // 3 MiB blocks, ids near 2^20: offsets beyond 2^31
        assertThat(ReadPlan.plan(new int[] {1_000_000}, new int[] {999_999}, blockBytes, 2_000_000, 2_000_000, 1))
                .containsExactly(new Read(1_000_000L * blockBytes, 999_999L * blockBytes, blockBytes));
    }

    @Test
    void spread_cutsOneLongReadIntoEqualAlignedShares() {
        List<List<Read>> lanes = ReadPlan.spread(List.of(new Read(1000, 5000, 96)), 2, 1, 16);
        assertThat(lanes).containsExactly(List.of(new Read(1000, 5000, 48)), List.of(new Read(1048, 5048, 48)));
        // 100 bytes in 3 lanes: shares of ceil(100 / 3) = 34, rounded up to 40; the last lane takes the rest
        assertThat(ReadPlan.spread(List.of(new Read(0, 0, 100)), 3, 1, 8)).containsExactly(
                List.of(new Read(0, 0, 40)), List.of(new Read(40, 40, 40)), List.of(new Read(80, 80, 20)));
    }

    @Test
    void spread_keepsReadBoundariesAndCutsOnlyAStraddlingRead() {
        List<Read> reads = List.of(new Read(0, 100, 30), new Read(500, 0, 50), new Read(900, 200, 20));
        assertThat(ReadPlan.spread(reads, 2, 1, 1)).containsExactly(
                List.of(new Read(0, 100, 30), new Read(500, 0, 20)),
                List.of(new Read(520, 20, 30), new Read(900, 200, 20)));
    }

    @Test
    void spread_leavesSmallMigrationsOnFewerLanes() {
        List<Read> one = List.of(new Read(0, 0, 3 << 20));
        assertThat(ReadPlan.spread(one, 4, 2 << 20, 4096)).containsExactly(
                List.of(new Read(0, 0, 2 << 20)), List.of(new Read(2 << 20, 2 << 20, 1 << 20)), List.of(), List.of());
        assertThat(ReadPlan.spread(List.of(new Read(0, 0, 100)), 2, 2 << 20, 4096))
                .containsExactly(List.of(new Read(0, 0, 100)), List.of());
        assertThat(ReadPlan.spread(List.of(), 2, 1, 1)).containsExactly(List.of(), List.of());
    }

    @Test
    void spread_movesEveryByteExactlyOnce() {
        List<Read> reads = ReadPlan.plan(new int[] {3, 4, 5, 9, 1, 2}, new int[] {0, 1, 2, 7, 4, 5}, 1000, 20, 20,
                1 << 20);
        for (int lanes = 1; lanes <= 5; lanes++) {
            long[] covered = new long[20_000];
            for (List<Read> lane : ReadPlan.spread(reads, lanes, 700, 64)) {
                for (Read r : lane) {
                    for (long b = 0; b < r.bytes(); b++) {
                        covered[(int) (r.localOffset() + b)]++;
                        assertThat(r.remoteOffset() - r.localOffset()).isEqualTo(sourceShift(reads, r.localOffset()));
                    }
                }
            }
            for (Read r : reads) {
                for (long b = 0; b < r.bytes(); b++) {
                    assertThat(covered[(int) (r.localOffset() + b)]).as("lanes %d, byte %d", lanes,
                            r.localOffset() + b).isEqualTo(1);
                }
            }
        }
    }

    @Test
    void spread_refusesNonsense() {
        assertThatThrownBy(() -> ReadPlan.spread(List.of(), 0, 1, 1)).isInstanceOf(IllegalArgumentException.class);
    }

    /** remoteOffset - localOffset of the planned read that lands on local byte {@code local}. */
    private static long sourceShift(List<Read> reads, long local) {
        return reads.stream().filter(r -> local >= r.localOffset() && local < r.localOffset() + r.bytes())
                .findFirst().map(r -> r.remoteOffset() - r.localOffset()).orElseThrow();
    }
}
