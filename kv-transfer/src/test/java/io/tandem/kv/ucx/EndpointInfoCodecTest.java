package io.tandem.kv.ucx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.errors.InvalidEndpointInfoException;
import io.tandem.proto.UcxEndpointInfo;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EndpointInfoCodecTest {

    static final KvBlockLayout SMALL = new KvBlockLayout("f32", 12, 4, 64, 64);
    static final ArenaDescriptor D = new ArenaDescriptor(new byte[] {1, 2, 3}, new byte[] {9, 8, 7, 6},
            0x7f00_1234_0000L, 100 * SMALL.blockBytes(), SMALL);

    static String encode(UcxEndpointInfo info) {
        return EndpointInfoCodec.PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(info.toByteArray());
    }

    static UcxEndpointInfo.Builder valid() {
        return UcxEndpointInfo.newBuilder()
                .setVersion(1).setWorkerAddress(ByteString.copyFrom(new byte[] {1})).setRkey(ByteString.copyFrom(
                        new byte[] {2})).setBaseAddress(4096).setLength(SMALL.blockBytes())
                .setLayout(EndpointInfoCodec.toProto(SMALL));
    }

    @Test
    void roundTrip_preservesEveryField() {
        String s = EndpointInfoCodec.encode(D);
        assertThat(s).startsWith("tandem-ucx-v1:").matches("[A-Za-z0-9_:\\-]+");
        assertThat(EndpointInfoCodec.decode(s)).isEqualTo(D);
        assertThat(EndpointInfoCodec.decode(s).numBlocks()).isEqualTo(100);
        assertThat(SMALL.blockBytes()).isEqualTo(1_572_864); // 1.5 MiB, the bench's small model
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "hello", "tandem-ucx-v1:", "tandem-ucx-v1:!!!!", "tandem-ucx-v1:AAAA",
            "tandem-ucx-v1:////", "{\"json\":true}", "tandem-ucx-v2:AAAA"})
    void garbage_isRejectedCleanly(String s) {
        assertThatThrownBy(() -> EndpointInfoCodec.decode(s)).isInstanceOf(InvalidEndpointInfoException.class)
                .hasMessageStartingWith("endpoint_info");
    }

    @Test
    void null_andHugeStrings_areRejected() {
        assertThatThrownBy(() -> EndpointInfoCodec.decode(null)).isInstanceOf(InvalidEndpointInfoException.class);
        assertThatThrownBy(() -> EndpointInfoCodec.decode("tandem-ucx-v1:" + "A".repeat(1 << 20)))
                .isInstanceOf(InvalidEndpointInfoException.class).hasMessageContaining("characters");
    }

    @Test
    void validFieldsButBadValues_areRejectedNamingTheField() {
        assertThat(EndpointInfoCodec.decode(encode(valid().build())).baseAddress()).isEqualTo(4096);
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setVersion(7).build())))
                .hasMessage("endpoint_info.version: 7 (expected: 1 to 2)");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().clearRkey().build())))
                .hasMessage("endpoint_info.rkey: empty");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setWorkerAddress(
                ByteString.copyFrom(new byte[5000])).build())))
                .hasMessage("endpoint_info.worker_address: 5000 bytes (expected: <= 4096)");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().clearLayout().build())))
                .hasMessage("endpoint_info.layout: missing");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setBaseAddress(0).build())))
                .hasMessageContaining("base_address: 0");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setLength(10).build())))
                .hasMessageContaining("endpoint_info.length: 10");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setLength(-1).build())))
                .isInstanceOf(InvalidEndpointInfoException.class);
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setBaseAddress(-4096)
                .setLength(1L << 40).build())))
                .hasMessage("endpoint_info: base_address + length overflows");
    }

    @Test
    void inconsistentOrHostileLayouts_areRejected() {
        var l = EndpointInfoCodec.toProto(SMALL);
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setLayout(l.toBuilder().setBlockBytes(1))
                .build()))).hasMessageStartingWith("endpoint_info.layout: block_bytes: 1");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setLayout(l.toBuilder().setNumLayers(-1))
                .build()))).hasMessageStartingWith("endpoint_info.layout: numLayers: -1");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setLayout(l.toBuilder().setDtype("q4"))
                .build()))).hasMessageStartingWith("endpoint_info.layout: dtype: q4");
        assertThatThrownBy(() -> EndpointInfoCodec.decode(encode(valid().setLayout(l.toBuilder()
                .setNumLayers(Integer.MAX_VALUE).setHeadDim(Integer.MAX_VALUE).clearBlockBytes()
                .clearLayerStride().clearKvStride().clearHeadStride().clearTokenStride()).build())))
                .isInstanceOf(InvalidEndpointInfoException.class);
    }
}
