package io.tandem.kv.ucx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.TransferStats;
import io.tandem.kv.errors.PeerUnavailableException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The contract every KV transport configuration keeps, run once per UCX transport selection (subclasses):
 * bytes land at the right local block offsets, contiguous runs are coalesced, many migrations can be in flight,
 * and a disconnected peer fails reads cleanly.
 */
abstract class UcxTransportContractIT {

    /** A small layout: 2 layers, 2 heads, head_dim 8, block 4, f32 -> 1 KiB blocks. */
    static final KvBlockLayout LAYOUT = new KvBlockLayout("f32", 2, 2, 8, 4);
    static final int BLOCKS = 64;
    static final Duration TIMEOUT = Duration.ofSeconds(20);

    UcxTransport owner;
    UcxTransport reader;

    /** UCX configuration for this transport, keys without the UCX_ prefix. */
    abstract Map<String, String> ucxConfig();

    /** Whether this transport maps the peer's arena into the reader (shared memory), so reads are spread. */
    abstract boolean mapsPeerArena();

    @BeforeEach
    void start() {
        owner = UcxTransport.start("owner", BLOCKS * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20);
        reader = UcxTransport.start("reader", BLOCKS * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20);
        fill(owner.arena().segment());
        reader.connect("owner", EndpointInfoCodec.decode(owner.endpointInfo()));
    }

    @AfterEach
    void stop() {
        if (reader != null) {
            reader.close();
        }
        if (owner != null) {
            owner.close();
        }
    }

    /** Every 8-byte word of block b at byte offset o holds b * 1_000_000 + o. */
    static void fill(MemorySegment arena) {
        long bb = LAYOUT.blockBytes();
        for (int b = 0; b < BLOCKS; b++) {
            for (long o = 0; o < bb; o += 8) {
                arena.set(ValueLayout.JAVA_LONG, b * bb + o, b * 1_000_000L + o);
            }
        }
    }

    static void assertBlock(MemorySegment arena, int localBlock, int remoteBlock) {
        long bb = LAYOUT.blockBytes();
        for (long o = 0; o < bb; o += 8) {
            long v = arena.get(ValueLayout.JAVA_LONG, localBlock * bb + o);
            if (v != remoteBlock * 1_000_000L + o) {
                throw new AssertionError("local block " + localBlock + " offset " + o + ": " + v
                        + " (expected: remote block " + remoteBlock + ")");
            }
        }
    }

    @Test
    void read_landsEachBlockAtItsLocalOffset() throws Exception {
        int[] remote = {5, 6, 7, 20, 3};
        int[] local = {10, 11, 12, 0, 40};
        TransferStats s = reader.read("owner", remote, local, TIMEOUT).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < remote.length; i++) {
            assertBlock(reader.arena().segment(), local[i], remote[i]);
        }
        assertThat(s.blocks()).isEqualTo(5);
        assertThat(s.bytes()).isEqualTo(5 * LAYOUT.blockBytes());
        assertThat(s.reads()).as("5,6,7 -> 10,11,12 coalesced into one read").isEqualTo(3);
        // untouched blocks stay zero
        assertThat(reader.arena().segment().get(ValueLayout.JAVA_LONG, 1 * LAYOUT.blockBytes() + 8)).isZero();
    }

    @Test
    void read_ofTheWholeArena_isOneRunSplitAtMaxReadBytes() throws Exception {
        int[] ids = new int[BLOCKS];
        for (int i = 0; i < BLOCKS; i++) {
            ids[i] = i;
        }
        TransferStats s = reader.read("owner", ids, ids, TIMEOUT).get(30, TimeUnit.SECONDS);
        assertThat(s.reads()).isEqualTo(1);
        for (int i = 0; i < BLOCKS; i++) {
            assertBlock(reader.arena().segment(), i, i);
        }
    }

    @Test
    void start_prefaultedArenaIsZeroed() {
        MemorySegment arena = reader.arena().segment();
        for (long o = 0; o < arena.byteSize(); o += 512) {
            assertThat(arena.get(ValueLayout.JAVA_LONG, o)).as("offset %d", o).isZero();
        }
    }

    @Test
    void read_intoAnArenaThatWasNotPrefaulted_landsEveryBlock() throws Exception {
        try (UcxTransport cold = UcxTransport.start("cold", BLOCKS * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20,
                false)) {
            cold.connect("owner", EndpointInfoCodec.decode(owner.endpointInfo()));
            int[] ids = new int[BLOCKS];
            for (int i = 0; i < BLOCKS; i++) {
                ids[i] = i;
            }
            cold.read("owner", ids, ids, TIMEOUT).get(30, TimeUnit.SECONDS);
            for (int i = 0; i < BLOCKS; i++) {
                assertBlock(cold.arena().segment(), i, i);
            }
        }
    }

    @Test
    void manyConcurrentReads_allComplete() throws Exception {
        List<CompletableFuture<TransferStats>> fs = new ArrayList<>();
        for (int i = 0; i < BLOCKS; i++) {
            fs.add(reader.read("owner", new int[] {i}, new int[] {BLOCKS - 1 - i}, TIMEOUT));
        }
        CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        for (int i = 0; i < BLOCKS; i++) {
            assertBlock(reader.arena().segment(), BLOCKS - 1 - i, i);
        }
    }

    @Test
    void read_fromAnUnknownPeer_isRefused() {
        assertThatThrownBy(() -> reader.read("nobody", new int[] {0}, new int[] {0}, TIMEOUT))
                .isInstanceOf(PeerUnavailableException.class).hasMessageContaining("nobody");
    }

    @Test
    void read_outOfRange_isRefusedBeforeTouchingUcx() {
        assertThatThrownBy(() -> reader.read("owner", new int[] {BLOCKS}, new int[] {0}, TIMEOUT))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("remoteBlockIds[0]: 64");
        assertThatThrownBy(() -> reader.read("owner", new int[] {0}, new int[] {-1}, TIMEOUT))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("localBlockIds[0]: -1");
    }

    @Test
    void afterDisconnect_readsAreRefused_andReconnectWorks() throws Exception {
        reader.disconnect("owner");
        assertThatThrownBy(() -> reader.read("owner", new int[] {0}, new int[] {0}, TIMEOUT))
                .isInstanceOf(PeerUnavailableException.class);
        reader.connect("owner", EndpointInfoCodec.decode(owner.endpointInfo()));
        reader.read("owner", new int[] {9}, new int[] {1}, TIMEOUT).get(30, TimeUnit.SECONDS);
        assertBlock(reader.arena().segment(), 1, 9);
    }

    @Test
    void failPeer_failsInFlightReads_andTheNextReadReconnects() throws Exception {
        reader.failPeer("owner", "declared dead by the test");
        reader.read("owner", new int[] {2}, new int[] {3}, TIMEOUT).get(30, TimeUnit.SECONDS);
        assertBlock(reader.arena().segment(), 3, 2);
    }

    /**
     * Connecting and closing at once, many times: UCX 1.13 aborts the process when a worker purges a wire-up
     * reply it has not sent yet (the reader's side vanished, or the owner's worker is destroyed), so connect
     * must wait for the handshake and close must not destroy anything while one is pending.
     */
    @Test
    void connectThenCloseAtOnce_repeatedly_neverCrashes() {
        for (int i = 0; i < 25; i++) {
            UcxTransport o = UcxTransport.start("o" + i, 4 * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20);
            UcxTransport r = UcxTransport.start("r" + i, 4 * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20);
            r.connect("o", EndpointInfoCodec.decode(o.endpointInfo()));
            if (i % 2 == 0) {
                r.close();
                o.close();
            } else {
                o.close();
                r.close();
            }
        }
    }

    @Test
    void connect_toAClosedPeer_failsWithoutKillingTheProcess() {
        UcxTransport gone = UcxTransport.start("gone", 4 * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20);
        ArenaDescriptor info = EndpointInfoCodec.decode(gone.endpointInfo());
        gone.close();
        assertThatThrownBy(() -> reader.connect("gone", info, Duration.ofSeconds(5)))
                .isInstanceOf(PeerUnavailableException.class).hasMessageContaining("gone");
        assertThat(reader.isConnected("gone")).isFalse();
        // the transport is still usable
        assertThatThrownBy(() -> reader.read("gone", new int[] {0}, new int[] {0}, TIMEOUT))
                .isInstanceOf(PeerUnavailableException.class);
    }

    /** 128 KiB blocks: 4 layers, 4 heads, head_dim 64, block 16, f32. */
    static final KvBlockLayout LANE_LAYOUT = new KvBlockLayout("f32", 4, 4, 64, 16);
    static final int LANE_BLOCKS = 96;

    /**
     * Where the transport maps the peer's arena, a 12 MiB migration over three lanes is cut into three 4 MiB shares,
     * one GET per lane (a share may straddle two runs: then two); elsewhere it stays one GET per run on one lane.
     * Every word lands where its block id says, also where a share boundary cuts a block.
     */
    @Test
    void read_overSeveralLanes_spreadsTheMigration_andLandsEveryByte() throws Exception {
        long bb = LANE_LAYOUT.blockBytes();
        try (UcxTransport o = laneTransport("lane-owner", 3); UcxTransport r = laneTransport("lane-reader", 3)) {
            assertThat(r.lanes()).isEqualTo(3);
            MemorySegment src = o.arena().segment();
            for (long off = 0; off < LANE_BLOCKS * bb; off += 8) {
                src.set(ValueLayout.JAVA_LONG, off, off * 31 + 7);
            }
            r.connect("owner", EndpointInfoCodec.decode(o.endpointInfo()));
            // remote 0..95 lands as two runs: 0..47 -> 48..95 and 48..95 -> 0..47
            int[] remote = new int[LANE_BLOCKS];
            int[] local = new int[LANE_BLOCKS];
            for (int i = 0; i < LANE_BLOCKS; i++) {
                remote[i] = i;
                local[i] = (i + LANE_BLOCKS / 2) % LANE_BLOCKS;
            }
            for (int round = 0; round < 3; round++) {
                r.arena().segment().fill((byte) 0);
                TransferStats s = r.read("owner", remote, local, TIMEOUT).get(30, TimeUnit.SECONDS);
                if (mapsPeerArena()) {
                    assertThat(s.reads()).as("two runs cut into three shares: the middle share straddles both runs")
                            .isEqualTo(4);
                } else {
                    assertThat(s.reads()).as("two runs, one lane").isEqualTo(2);
                }
                assertThat(s.bytes()).isEqualTo(LANE_BLOCKS * bb);
                MemorySegment dst = r.arena().segment();
                for (int i = 0; i < LANE_BLOCKS; i++) {
                    for (long w = 0; w < bb; w += 8) {
                        long v = dst.get(ValueLayout.JAVA_LONG, local[i] * bb + w);
                        long want = (remote[i] * bb + w) * 31 + 7;
                        if (v != want) {
                            throw new AssertionError("round " + round + ", local block " + local[i] + " word " + w
                                    + ": " + v + " (expected " + want + ")");
                        }
                    }
                }
            }
            // after a failure on every lane, the next read reconnects them all
            r.failPeer("owner", "declared dead by the test");
            r.read("owner", remote, local, TIMEOUT).get(30, TimeUnit.SECONDS);
        }
    }

    /** One lane is the single-worker transport: the same 12 MiB run is one GET. */
    @Test
    void read_onOneLane_isOneGetPerRun() throws Exception {
        try (UcxTransport o = laneTransport("one-owner", 1); UcxTransport r = laneTransport("one-reader", 1)) {
            r.connect("owner", EndpointInfoCodec.decode(o.endpointInfo()));
            int[] ids = new int[LANE_BLOCKS];
            java.util.Arrays.setAll(ids, i -> i);
            assertThat(r.read("owner", ids, ids, TIMEOUT).get(30, TimeUnit.SECONDS).reads()).isEqualTo(1);
        }
    }

    private UcxTransport laneTransport(String name, int lanes) {
        return UcxTransport.start(name, LANE_BLOCKS * LANE_LAYOUT.blockBytes(), LANE_LAYOUT, ucxConfig(), 1L << 30,
                true, lanes);
    }

    @Test
    void start_refusesALaneCountOutOfRange() {
        assertThatThrownBy(() -> UcxTransport.start("x", 4 * LAYOUT.blockBytes(), LAYOUT, ucxConfig(), 1 << 20, true,
                0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("lanes: 0");
    }
}
