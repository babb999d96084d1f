package io.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.GgufFormatException;
import java.util.LinkedHashMap;
import org.junit.jupiter.api.Test;

class GgufMetadataTest {
    private final GgufMetadata md = new GgufMetadata("m.gguf", new LinkedHashMap<>(GgufRoundTripTest.everyValueType()));

    @Test
    void getInt_acceptsAnyIntegerWidthThatFits() {
        assertThat(md.getInt("t.uint8")).isEqualTo(255);
        assertThat(md.getInt("t.int8")).isEqualTo(-128);
        assertThat(md.getInt("t.uint16")).isEqualTo(65535);
        assertThat(md.getInt("t.int16")).isEqualTo(-32768);
        assertThat(md.getInt("t.int32")).isEqualTo(Integer.MIN_VALUE);
        GgufMetadata small = metadata(GgufValueType.UINT32, 5L, GgufValueType.INT64, -7L, GgufValueType.UINT64, 9L);
        assertThat(small.getInt("k0")).isEqualTo(5);
        assertThat(small.getInt("k1")).isEqualTo(-7);
        assertThat(small.getInt("k2")).isEqualTo(9);
        assertThat(small.getLong("k0")).isEqualTo(5L);
        assertThat(small.getFloat("k1")).isEqualTo(-7f);
    }

    @Test
    void getInt_valueTooLarge_throwsNamingKeyValueAndType() {
        assertThatThrownBy(() -> md.getInt("t.uint32"))
                .isInstanceOf(GgufFormatException.class)
                .hasMessage("m.gguf: metadata key 't.uint32' value 4294967295 (UINT32) does not fit in an int");
        assertThat(md.getLong("t.uint32")).isEqualTo(0xFFFF_FFFFL);
        assertThatThrownBy(() -> md.getLong("t.uint64"))
                .isInstanceOf(GgufFormatException.class).hasMessageContaining("18446744073709551615 (UINT64)");
        assertThat(md.get("t.uint64")).isEqualTo(-1L);
    }

    @Test
    void typedGetters_onWrongType_throwNamingKeyAndActualType() {
        assertThatThrownBy(() -> md.getInt("t.string"))
                .isInstanceOf(GgufFormatException.class)
                .hasMessage("m.gguf: metadata key 't.string' is STRING, expected an integer");
        assertThatThrownBy(() -> md.getString("t.uint8"))
                .hasMessage("m.gguf: metadata key 't.uint8' is UINT8, expected a STRING");
        assertThatThrownBy(() -> md.getStringArray("a.int32"))
                .hasMessage("m.gguf: metadata key 'a.int32' is ARRAY of INT32, expected an ARRAY of STRING");
        assertThatThrownBy(() -> md.getFloat("t.bool")).isInstanceOf(GgufFormatException.class);
        assertThatThrownBy(() -> md.getBoolean("t.float32")).isInstanceOf(GgufFormatException.class);
        assertThatThrownBy(() -> md.getIntArray("a.float32")).isInstanceOf(GgufFormatException.class);
        assertThatThrownBy(() -> md.getFloatArray("a.string")).isInstanceOf(GgufFormatException.class);
        // A default is for absent keys only; a present key of the wrong type is still an error.
        assertThatThrownBy(() -> md.getInt("t.string", 3)).isInstanceOf(GgufFormatException.class);
    }

    @Test
    void missingKey_throwsOrReturnsDefault() {
        assertThatThrownBy(() -> md.getInt("llama.block_count"))
                .isInstanceOf(GgufFormatException.class)
                .hasMessage("m.gguf: metadata key 'llama.block_count' is missing");
        assertThat(md.contains("llama.block_count")).isFalse();
        assertThat(md.getInt("x", 3)).isEqualTo(3);
        assertThat(md.getLong("x", 4L)).isEqualTo(4L);
        assertThat(md.getFloat("x", 0.5f)).isEqualTo(0.5f);
        assertThat(md.getDouble("x", 0.25)).isEqualTo(0.25);
        assertThat(md.getBoolean("x", true)).isTrue();
        assertThat(md.getString("x", "d")).isEqualTo("d");
        assertThat(md.getStringArray("x", new String[] {"d"})).containsExactly("d");
        assertThat(md.getIntArray("x", new int[] {1})).containsExactly(1);
        assertThat(md.getFloatArray("x", new float[] {1f})).containsExactly(1f);
    }

    @Test
    void typedGetters_convertNumericWidths() {
        assertThat(md.getDouble("t.float32")).isEqualTo((double) -1.5e-7f);
        assertThat(md.getFloat("t.float64")).isEqualTo((float) Math.PI);
        assertThat(md.getBoolean("t.bool")).isTrue();
        assertThat(md.getString("t.string")).isEqualTo("héllo ✓ 🦙");
        assertThat(md.architecture()).isEqualTo("llama");
        assertThat(md.getIntArray("a.uint8")).containsExactly(0, 255);
        assertThat(md.getFloatArray("a.int16")).containsExactly(-32768f, 32767f);
        assertThat(md.getFloatArray("a.float64")).containsExactly((float) Double.MIN_VALUE, -2.5f);
        assertThat(md.getStringArray("a.string")).containsExactly("<unk>", "▁the", "");
    }

    @Test
    void getIntArray_elementTooLarge_throwsNamingIndex() {
        assertThatThrownBy(() -> md.getIntArray("a.uint32"))
                .isInstanceOf(GgufFormatException.class)
                .hasMessage("m.gguf: metadata key 'a.uint32[1]' value 4294967295 (ARRAY of UINT32) does not fit in an int");
        GgufMetadata fits = metadata(GgufValueType.ARRAY, new GgufArray(GgufValueType.INT64, new long[] {-1, 2}));
        assertThat(fits.getIntArray("k0")).containsExactly(-1, 2);
    }

    @Test
    void returnedArrays_areCopies() {
        md.getStringArray("a.string")[0] = "changed";
        ((int[]) md.get("a.int32"))[0] = 0;
        ((float[]) md.getArray("a.float32").values())[2] = 9f;
        assertThat(md.getStringArray("a.string")[0]).isEqualTo("<unk>");
        assertThat(md.getIntArray("a.int32")[0]).isEqualTo(Integer.MIN_VALUE);
        assertThat(md.getFloatArray("a.float32")[2]).isEqualTo(1f);
        assertThat(md.asMap()).containsKey("a.nested").hasSize(md.size());
        assertThatThrownBy(() -> md.asMap().put("x", 1)).isInstanceOf(UnsupportedOperationException.class);
    }

    /** Keys k0, k1, ... with the given (type, value) pairs. */
    private static GgufMetadata metadata(Object... typesAndValues) {
        LinkedHashMap<String, GgufValue> m = new LinkedHashMap<>();
        for (int i = 0; i < typesAndValues.length; i += 2) {
            m.put("k" + i / 2, GgufValue.of((GgufValueType) typesAndValues[i], typesAndValues[i + 1]));
        }
        return new GgufMetadata("m.gguf", m);
    }
}
