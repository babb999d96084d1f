package io.tandem.kv;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * A peer engine in its own process, for tests that kill it. Args: engineId, UCX TLS, blocks. Fills block b's
 * words with {@code b * 1_000_000 + offset}, prints {@code READY <endpointInfo> <zmqAddress>}, prints
 * {@code FREED <from> <session>} for each FreeCache, and exits when stdin closes.
 */
public final class PeerMain {

    public static final KvBlockLayout LAYOUT = new KvBlockLayout("f32", 2, 2, 8, 4);

    public static void main(String[] args) throws Exception {
        String id = args[0];
        int blocks = Integer.parseInt(args[2]);
        KvTransferConfig config = KvTransferConfig.builder(id, LAYOUT, blocks * LAYOUT.blockBytes())
                .ucxConfig(ucx(args[1])).build();
        try (KvTransferEngine engine = KvTransferEngine.create(config)) {
            fill(engine.arena().segment(), blocks);
            engine.onFreeCache(n -> {
                System.out.println("FREED " + n.fromEngineId() + " " + n.sessionId());
                System.out.flush();
            });
            System.out.println("READY " + engine.localEndpointInfo() + " " + engine.zmqAddress());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                String[] w = line.split(" ");
                if (w[0].equals("CONNECT")) {
                    engine.connect(w[1], w[2], w[3]);
                    System.out.println("CONNECTED");
                    System.out.flush();
                }
            }
        }
    }

    static Map<String, String> ucx(String tls) {
        return tls.equals("tcp") ? Map.of("TLS", "tcp", "NET_DEVICES", "lo") : Map.of("TLS", tls);
    }

    static void fill(MemorySegment arena, int blocks) {
        long bb = LAYOUT.blockBytes();
        for (int b = 0; b < blocks; b++) {
            for (long o = 0; o < bb; o += 8) {
                arena.set(ValueLayout.JAVA_LONG, b * bb + o, b * 1_000_000L + o);
            }
        }
    }
}
