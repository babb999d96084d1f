package io.tandem.kv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.tandem.kv.errors.InvalidEndpointInfoException;
import io.tandem.kv.errors.KvTransferException;
import io.tandem.kv.errors.LayoutMismatchException;
import io.tandem.kv.errors.PeerUnavailableException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The facade end to end against a peer engine in a second JVM, once per UCX transport (subclasses): reads,
 * FreeCache both ways, layout checks, and a peer killed with SIGKILL.
 */
abstract class KvTransferEngineContractIT {

    static final KvBlockLayout LAYOUT = PeerMain.LAYOUT;
    static final int BLOCKS = 32;

    abstract String tls();

    KvTransferEngine decode;
    Process peer;
    Writer peerIn;
    BufferedReader peerOut;
    String peerInfo;
    String peerZmq;

    KvTransferConfig.Builder config(String id) {
        return KvTransferConfig.builder(id, LAYOUT, BLOCKS * LAYOUT.blockBytes()).ucxConfig(PeerMain.ucx(tls()))
                .readTimeout(Duration.ofSeconds(5)).pingInterval(Duration.ofMillis(200))
                .peerDeadAfter(Duration.ofMillis(1500));
    }

    @BeforeEach
    void start() throws Exception {
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        peer = new ProcessBuilder(java.toString(), "--enable-native-access=ALL-UNNAMED", "-cp", cp,
                PeerMain.class.getName(), "P", tls(), String.valueOf(BLOCKS))
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        peerIn = new OutputStreamWriter(peer.getOutputStream(), StandardCharsets.UTF_8);
        peerOut = new BufferedReader(new InputStreamReader(peer.getInputStream(), StandardCharsets.UTF_8));
        String ready = expectLine("READY ");
        String[] w = ready.split(" ");
        peerInfo = w[1];
        peerZmq = w[2];
        decode = KvTransferEngine.create(config("D").build());
        decode.connect("P", peerInfo, peerZmq);
        peerIn.write("CONNECT D " + decode.localEndpointInfo() + " " + decode.zmqAddress() + "\n");
        peerIn.flush();
        expectLine("CONNECTED");
    }

    String expectLine(String prefix) throws Exception {
        CompletableFuture<String> f = CompletableFuture.supplyAsync(() -> {
            try {
                String line;
                while ((line = peerOut.readLine()) != null) {
                    if (line.startsWith(prefix)) {
                        return line;
                    }
                }
                throw new IllegalStateException("peer exited before printing " + prefix);
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        });
        return f.get(30, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        if (decode != null) {
            decode.close();
        }
        if (peer != null) {
            peer.destroyForcibly();
            peer.waitFor(10, TimeUnit.SECONDS);
        }
    }

    static void assertBlock(RegisteredMemory arena, int local, int remote) {
        long bb = LAYOUT.blockBytes();
        for (long o = 0; o < bb; o += 8) {
            long v = arena.segment().get(ValueLayout.JAVA_LONG, local * bb + o);
            if (v != remote * 1_000_000L + o) {
                throw new AssertionError("local block " + local + " offset " + o + ": " + v + " (expected: remote "
                        + remote + ")");
            }
        }
    }

    @Test
    void read_fromAnotherProcess_landsAtTheLocalOffsets_andFreeCacheReachesThePeer() throws Exception {
        int[] remote = {3, 4, 5, 6, 30, 0};
        int[] local = {20, 21, 22, 23, 1, 31};
        TransferStats s = decode.read("P", remote, local).get(10, TimeUnit.SECONDS);
        assertThat(s.reads()).isEqualTo(3);
        for (int i = 0; i < remote.length; i++) {
            assertBlock(decode.arena(), local[i], remote[i]);
        }
        decode.sendFreeCache("P", 1234);
        assertThat(expectLine("FREED ")).isEqualTo("FREED D 1234");
    }

    @Test
    void manyConcurrentMigrations_fromAnotherProcess() throws Exception {
        List<CompletableFuture<TransferStats>> fs = new ArrayList<>();
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < BLOCKS; i++) {
                fs.add(decode.read("P", new int[] {i}, new int[] {(i + round) % BLOCKS}));
            }
        }
        CompletableFuture.allOf(fs.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
        assertThat(fs).allSatisfy(f -> assertThat(f.join().bytes()).isEqualTo(LAYOUT.blockBytes()));
    }

    @Test
    void killedPeer_failsReadsWithinTheTimeout_andLeavesTheReaderUsable() throws Exception {
        decode.read("P", new int[] {1}, new int[] {1}).get(10, TimeUnit.SECONDS);
        peer.destroyForcibly(); // SIGKILL
        peer.waitFor(10, TimeUnit.SECONDS);
        long t0 = System.nanoTime();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).until(() -> {
            try {
                decode.read("P", new int[] {2}, new int[] {2}).get(10, TimeUnit.SECONDS);
                return false; // over shared memory the dead peer's pages may still read until liveness notices
            } catch (ExecutionException e) {
                assertThat(e.getCause()).isInstanceOf(KvTransferException.class).hasMessageContaining("peer P");
                return true;
            } catch (PeerUnavailableException e) {
                return true;
            }
        });
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
        await().atMost(Duration.ofSeconds(5)).until(() -> !decode.isPeerAlive("P"));

        // the reader still works with a new peer in this JVM
        try (KvTransferEngine other = KvTransferEngine.create(config("P2").build())) {
            PeerMain.fill(other.arena().segment(), BLOCKS);
            decode.connect("P2", other.localEndpointInfo(), other.zmqAddress());
            decode.read("P2", new int[] {7}, new int[] {8}).get(10, TimeUnit.SECONDS);
            assertBlock(decode.arena(), 8, 7);
        }
    }

    @Test
    void connect_withADifferentLayout_failsNamingTheField() {
        try (KvTransferEngine other = KvTransferEngine.create(
                KvTransferConfig.builder("X", new KvBlockLayout("f32", 2, 2, 8, 8), 4 * 1024)
                        .ucxConfig(PeerMain.ucx(tls())).build())) {
            assertThatThrownBy(() -> decode.connect("X", other.localEndpointInfo(), other.zmqAddress()))
                    .isInstanceOf(LayoutMismatchException.class)
                    .hasMessage("KV layout mismatch: block_size: 4 here, 8 on the peer");
        }
        assertThatThrownBy(() -> decode.read("X", new int[] {0}, new int[] {0}))
                .isInstanceOf(PeerUnavailableException.class);
    }

    @Test
    void hostileEndpointInfos_areRejected_andChangeNothing() throws Exception {
        for (String bad : new String[] {"", "x", "tandem-ucx-v1:%%%", peerInfo.substring(0, peerInfo.length() / 2),
                "tandem-ucx-v1:" + "A".repeat(20_000)}) {
            assertThatThrownBy(() -> decode.connect("Q", bad, peerZmq))
                    .isInstanceOf(InvalidEndpointInfoException.class);
        }
        assertThatThrownBy(() -> decode.connect("Q", peerInfo, "tcp://;rm -rf:1"))
                .isInstanceOf(InvalidEndpointInfoException.class);
        assertThatThrownBy(() -> decode.connect(" ", peerInfo, peerZmq)).isInstanceOf(IllegalArgumentException.class);
        decode.read("P", new int[] {9}, new int[] {9}).get(10, TimeUnit.SECONDS);
        assertBlock(decode.arena(), 9, 9);
    }
}
