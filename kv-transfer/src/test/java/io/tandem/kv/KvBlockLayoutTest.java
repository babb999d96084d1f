package io.tandem.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.kv.errors.LayoutMismatchException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KvBlockLayoutTest {

    static final KvBlockLayout SMALL = new KvBlockLayout("f32", 12, 4, 64, 64);

    @Test
    void strides_followTheBlockShape() {
        // (n_layers, 2, n_kv_heads, block_size, head_dim) f32
        assertThat(SMALL.tokenStride()).isEqualTo(256);
        assertThat(SMALL.headStride()).isEqualTo(256 * 64);
        assertThat(SMALL.kvStride()).isEqualTo(256 * 64 * 4);
        assertThat(SMALL.layerStride()).isEqualTo(256 * 64 * 4 * 2);
        assertThat(SMALL.blockBytes()).isEqualTo(12L * 2 * 4 * 64 * 64 * 4);
    }

    @Test
    void fields_roundTrip_withTheRuntimesNames() {
        Map<String, Object> f = SMALL.fields();
        assertThat(f.keySet()).containsExactly("dtype", "num_layers", "num_kv_heads", "head_dim", "block_size",
                "block_bytes", "layer_stride", "kv_stride", "head_stride", "token_stride");
        assertThat(KvBlockLayout.fromFields(f)).isEqualTo(SMALL);
    }

    @Test
    void fromFields_rejectsStridesThatDisagree() {
        Map<String, Object> f = new LinkedHashMap<>(SMALL.fields());
        f.put("head_stride", 1L);
        assertThatThrownBy(() -> KvBlockLayout.fromFields(f)).hasMessageStartingWith("head_stride: 1 (expected: 16384");
    }

    @Test
    void mismatch_namesTheFirstDifferingField() {
        assertThat(SMALL.mismatch(SMALL)).isEmpty();
        assertThatThrownBy(() -> SMALL.checkCompatible(new KvBlockLayout("f32", 12, 4, 64, 32)))
                .isInstanceOf(LayoutMismatchException.class)
                .hasMessage("KV layout mismatch: block_size: 64 here, 32 on the peer")
                .extracting(e -> ((LayoutMismatchException) e).field()).isEqualTo("block_size");
        assertThat(SMALL.mismatch(new KvBlockLayout("f16", 12, 4, 64, 64)).orElseThrow().field()).isEqualTo("dtype");
        assertThat(SMALL.mismatch(new KvBlockLayout("f32", 24, 4, 64, 64)).orElseThrow().field())
                .isEqualTo("num_layers");
        assertThat(SMALL.mismatch(new KvBlockLayout("f32", 12, 8, 64, 64)).orElseThrow().field())
                .isEqualTo("num_kv_heads");
        assertThat(SMALL.mismatch(new KvBlockLayout("f32", 12, 4, 128, 64)).orElseThrow().field())
                .isEqualTo("head_dim");
    }

    @Test
    void badGeometry_isRefused() {
        assertThatThrownBy(() -> new KvBlockLayout("f32", 0, 4, 64, 64)).hasMessage("numLayers: 0 (expected: > 0)");
        assertThatThrownBy(() -> new KvBlockLayout("q8", 1, 4, 64, 64))
                .hasMessage("dtype: q8 (expected: f32, f16 or bf16)");
        assertThatThrownBy(() -> new KvBlockLayout("f32", Integer.MAX_VALUE, Integer.MAX_VALUE, 64, 64))
                .isInstanceOf(ArithmeticException.class);
    }
}
