package io.tandem.engine.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class KvLayoutTest {
    private final KvLayout layout = new KvLayout(KvDtype.F32, 5, 4, 8, 16);

    @Test
    void strides_followTheDocumentedOrder() {
        // (n_layers, 2, n_kv_heads, block_size, head_dim) of f32
        assertThat(layout.tokenStride()).isEqualTo(8 * 4);
        assertThat(layout.headStride()).isEqualTo(16 * 8 * 4);
        assertThat(layout.kvStride()).isEqualTo(4 * 16 * 8 * 4);
        assertThat(layout.layerStride()).isEqualTo(2 * 4 * 16 * 8 * 4);
        assertThat(layout.blockBytes()).isEqualTo(5L * 2 * 4 * 16 * 8 * 4);
        assertThat(layout.offsetInBlock(2, 1, 3, 5)).isEqualTo(
                2 * layout.layerStride() + layout.kvStride() + 3 * layout.headStride() + 5 * layout.tokenStride());
    }

    @Test
    void fields_roundTrip() {
        assertThat(KvLayout.fromFields(layout.fields())).isEqualTo(layout);
    }

    @Test
    void mismatch_namesTheField() {
        assertThat(layout.mismatch(layout)).isEmpty();
        assertThat(layout.mismatch(new KvLayout(KvDtype.F32, 5, 4, 8, 32)))
                .hasValue("block_size: 16 here, 32 on the peer");
        assertThat(layout.mismatch(new KvLayout(KvDtype.F32, 6, 4, 8, 16))).get().asString().startsWith("num_layers");
    }

    @Test
    void fromFields_rejectsInconsistentBlockBytes() {
        var f = new java.util.LinkedHashMap<>(layout.fields());
        f.put("block_bytes", 12);
        assertThatThrownBy(() -> KvLayout.fromFields(f)).hasMessageContaining("block_bytes: 12");
    }
}
