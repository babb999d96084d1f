package io.tandem.kv.ucx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.kv.ucx.ReadPlan.Read;
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
}
