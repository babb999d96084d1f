package io.tandem.engine.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.OutOfKvBlocksException;
import org.junit.jupiter.api.Test;

class BlockManagerTest {

    @Test
    void allocateAndRelease_returnsEveryBlock() {
        BlockManager m = new BlockManager(8);
        int[] a = m.allocate(5);
        assertThat(a).doesNotHaveDuplicates().hasSize(5);
        assertThat(m.usedBlocks()).isEqualTo(5);
        assertThat(m.usage()).isEqualTo(5 / 8.0);
        m.releaseAll(a, a.length);
        assertThat(m.usedBlocks()).isZero();
        assertThat(m.freeBlocks()).isEqualTo(8);
    }

    @Test
    void allocate_beyondFree_failsAndTakesNothing() {
        BlockManager m = new BlockManager(4);
        m.allocate(3);
        assertThatThrownBy(() -> m.allocate(2)).isInstanceOf(OutOfKvBlocksException.class)
                .hasMessageContaining("need 2").hasMessageContaining("1 of 4 free");
        assertThat(m.freeBlocks()).isEqualTo(1);
    }

    @Test
    void retainedBlock_staysUsedUntilLastRelease() {
        BlockManager m = new BlockManager(2);
        int id = m.allocate(1)[0];
        m.retain(id);
        m.release(id);
        assertThat(m.refCount(id)).isEqualTo(1);
        assertThat(m.freeBlocks()).isEqualTo(1);
        m.release(id);
        assertThat(m.freeBlocks()).isEqualTo(2);
        assertThatThrownBy(() -> m.release(id)).isInstanceOf(IllegalStateException.class).hasMessageContaining("free");
    }

    @Test
    void badIds_areRefusedWithTheRange() {
        BlockManager m = new BlockManager(2);
        assertThatThrownBy(() -> m.retain(7)).hasMessageContaining("block id: 7 (expected: 0..1)");
        assertThatThrownBy(() -> new BlockManager(0)).hasMessageContaining("numBlocks: 0");
    }
}
