package io.tandem.kv.ucx;

import static org.assertj.core.api.Assertions.assertThat;

import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.TransferStats;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The transport contract over UCX's TCP transport on the loopback device. */
class UcxTcpTransportIT extends UcxTransportContractIT {

    /** 128 KiB blocks, so that one GET of a few blocks spans several TCP segments of either size. */
    private static final KvBlockLayout BIG = new KvBlockLayout("f32", 4, 4, 64, 16);
    private static final int BIG_BLOCKS = 24;
    /** UCX 1.13's own TCP segment sizes, as a peer that does not use our defaults has them. */
    private static final Map<String, String> UCX_DEFAULT_SEGMENTS = Map.of("TX_SEG_SIZE", "8K", "RX_SEG_SIZE",
            "64K");

    @Override
    Map<String, String> ucxConfig() {
        return Map.of("TLS", "tcp", "NET_DEVICES", "lo");
    }

    @Override
    boolean mapsPeerArena() {
        return false;
    }

    @Test
    void read_fromPeerOnUcxDefaultSegments_landsEveryByte() throws Exception {
        readAcross(with(UCX_DEFAULT_SEGMENTS), ucxConfig());
    }

    @Test
    void read_byPeerOnUcxDefaultSegments_landsEveryByte() throws Exception {
        readAcross(ucxConfig(), with(UCX_DEFAULT_SEGMENTS));
    }

    @Test
    void read_withOurSegmentsOnBothSides_landsEveryByte() throws Exception {
        readAcross(ucxConfig(), ucxConfig());
    }

    private Map<String, String> with(Map<String, String> extra) {
        Map<String, String> m = new HashMap<>(ucxConfig());
        m.putAll(extra);
        return m;
    }

    /** The owner's whole 3 MiB arena in one migration, checked word by word. */
    private static void readAcross(Map<String, String> ownerConfig, Map<String, String> readerConfig)
            throws Exception {
        long bb = BIG.blockBytes();
        try (UcxTransport o = UcxTransport.start("big-owner", BIG_BLOCKS * bb, BIG, ownerConfig, 1L << 30);
             UcxTransport r = UcxTransport.start("big-reader", BIG_BLOCKS * bb, BIG, readerConfig, 1L << 30)) {
            MemorySegment src = o.arena().segment();
            for (long off = 0; off < BIG_BLOCKS * bb; off += 8) {
                src.set(ValueLayout.JAVA_LONG, off, off * 31 + 7);
            }
            r.connect("owner", EndpointInfoCodec.decode(o.endpointInfo()));
            int[] ids = new int[BIG_BLOCKS];
            java.util.Arrays.setAll(ids, i -> i);
            TransferStats s = r.read("owner", ids, ids, TIMEOUT).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(s.reads()).as("over TCP a migration stays on one lane").isEqualTo(1);
            assertThat(s.bytes()).isEqualTo(BIG_BLOCKS * bb);
            MemorySegment dst = r.arena().segment();
            for (long off = 0; off < BIG_BLOCKS * bb; off += 8) {
                long v = dst.get(ValueLayout.JAVA_LONG, off);
                if (v != off * 31 + 7) {
                    throw new AssertionError("offset " + off + ": " + v);
                }
            }
        }
    }
}
