package io.tandem.bench.kv;

import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.KvTransferConfig;
import io.tandem.kv.KvTransferEngine;
import io.tandem.kv.TransferStats;
import io.tandem.kv.ucx.UcxTransport;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.foreign.ValueLayout;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * KV migration bandwidth between two processes on this machine, against {@code ucx_perftest} GET bandwidth for the
 * same bytes over the same transport, measured in the same run.
 *
 * <p>The prefill side is a child JVM holding a UCX-registered arena of {@code small}-model blocks (12 layers,
 * 4 KV heads, head_dim 64, f32, 64-token blocks: 1.5 MiB each), filled directly with a pattern (no prefill: the
 * transfer does not depend on the KV content, and a 16k-token prefill takes minutes); this process is the decode
 * side and reads the blocks of a 1k/4k/16k-token prompt (16/64/256 blocks, contiguous on both sides, so coalesced
 * into one GET unless {@code --max-read-mib} splits it).
 *
 * <p>What is timed, like for like:
 * <ul>
 *   <li>ours: {@code read()} called to its future observed complete by the calling thread (which blocks in
 *       {@code get()}), back to back, {@code --iters} times; so it includes the hand-off to the progress thread
 *       and the completion hand-off back. The "transport" figure is {@link TransferStats#nanos()} instead (from
 *       {@code read()} to the last GET completion on the progress thread, what the agent's
 *       {@code kv_migration_seconds} reports);</li>
 *   <li>{@code ucx_perftest -t ucp_get -s <migration bytes> -n <iters> -w 2}: one GET of the whole migration per
 *       iteration, one outstanding ({@code ucp_get}'s window is 1; {@code -O} is left at its default), from one
 *       UCX-allocated region of that size into another, re-read every iteration like ours; its "overall"
 *       bandwidth, i.e. total bytes / wall time of the timed loop;</li>
 *   <li>ucx_perftest twice per round: with only our {@code UCX_TLS}/{@code UCX_NET_DEVICES} ("default", what
 *       the target is stated against) and with every UCX setting our context uses, defaults of
 *       {@code UcxTransport} included, as environment variables ("same settings").</li>
 * </ul>
 * Every size gets 2 untimed reads first (the first one timed separately: "first read"), both sides' registration
 * is done once before. Each round's timed migrations are preceded by {@code --warmup} (2) untimed ones, as each
 * ucx_perftest run's timed loop is preceded by its 2 warm-up GETs ({@code -w 2}). Without them the comparison was
 * not like for like at 1k tokens: 24 MiB source plus 24 MiB destination stay in this VM's last-level cache when
 * re-read back to back, but the ucx_perftest run just before ours replaced them with its own buffers, so our
 * first 2-3 timed GETs of each round ran at memory speed (3.6-4 ms against 1.8-2.0 ms warm, traced on the
 * progress thread) while ucx_perftest's cold GETs were its untimed warm-ups ({@code -w 0} gives it 4.9 GB/s
 * against 12.8 with {@code -w 2}, page faults of its fresh buffers included). {@code --warmup 0} reproduces the
 * old harness. The machine is shared, so each of {@code --rounds} rounds runs the three measurements in a
 * rotating order, and the table gives medians over rounds, and the median and range of the per-round ratios.
 */
@Command(name = "kv-bench", mixinStandardHelpOptions = true,
        description = "KV migration bandwidth vs ucx_perftest GET bandwidth, per transport and prompt length.")
public final class KvTransferBench implements Callable<Integer> {

    static final KvBlockLayout SMALL = new KvBlockLayout("f32", 12, 4, 64, 64);

    @Option(names = "--transports", split = ",", defaultValue = "tcp,sm",
            description = "tcp (UCX_TLS=tcp on lo) and/or sm (UCX_TLS=posix,cma,self). Default: ${DEFAULT-VALUE}")
    List<String> transports;

    @Option(names = "--tokens", split = ",", defaultValue = "1024,4096,16384")
    int[] tokens;

    @Option(names = "--iters", defaultValue = "5", description = "Migrations per round. Default: ${DEFAULT-VALUE}")
    int iters;

    @Option(names = "--warmup", defaultValue = "2",
            description = "Untimed migrations before each round's timed ones, like ucx_perftest's -w 2 before each"
                    + " of its runs (0: time them right after ucx_perftest has run). Default: ${DEFAULT-VALUE}")
    int warmup;

    @Option(names = "--max-read-mib", defaultValue = "1024",
            description = "Largest single GET (KvTransferConfig.maxReadBytes). Default: ${DEFAULT-VALUE}")
    long maxReadMib;

    @Option(names = "--rounds", defaultValue = "7",
            description = "Rounds of (our migrations, ucx_perftest with default and with our settings), in rotating"
                    + " order. Default: ${DEFAULT-VALUE}")
    int rounds;

    @Option(names = "--perftest-size", defaultValue = "migration",
            description = "ucx_perftest -s: migration (the whole migration, like for like) or get (one of our GETs)."
                    + " Default: ${DEFAULT-VALUE}")
    String perftestSize;

    @Option(names = "--ucx", split = ",", description = "Extra UCX settings for both engines' contexts, KEY=VALUE"
            + " without UCX_ (e.g. TX_SEG_SIZE=8K,RX_SEG_SIZE=64K,ADDRESS_VERSION=v1 for UCX 1.13's own defaults)")
    Map<String, String> extraUcx = new TreeMap<>();

    @Option(names = "--prefault", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Prefault both arenas at start (KvTransferConfig.prefaultArena). Default: ${DEFAULT-VALUE}")
    boolean prefault;

    @Option(names = "--lanes", defaultValue = "0",
            description = "UCX workers the decode side spreads a migration over (KvTransferConfig.lanes); 0 = the "
                    + "transport's default (2, 1 on one core)")
    int lanes;

    @Option(names = "--serve", hidden = true)
    String serveTransport;

    @Option(names = "--blocks", hidden = true, defaultValue = "256")
    int blocks;

    static Map<String, String> ucx(String transport) {
        return switch (transport) {
            case "tcp" -> Map.of("TLS", "tcp", "NET_DEVICES", "lo");
            case "sm" -> Map.of("TLS", "posix,cma,self");
            default -> throw new IllegalArgumentException("transport: " + transport + " (expected: tcp or sm)");
        };
    }

    private int lanes() {
        return lanes == 0 ? UcxTransport.DEFAULT_LANES : lanes;
    }

    /** Our engines' per-context UCX settings: the transport selection plus {@code --ucx}. */
    Map<String, String> ours(String transport) {
        Map<String, String> m = new TreeMap<>(ucx(transport));
        m.putAll(extraUcx);
        return m;
    }

    /** ucx_perftest's environment: only the transport selection, or every setting our UCX context uses. */
    Map<String, String> perftestEnv(String transport, boolean sameSettings) {
        Map<String, String> env = new TreeMap<>();
        Map<String, String> ours = sameSettings ? UcxTransport.withDefaults(ours(transport), System.getenv())
                : ucx(transport);
        ours.forEach((k, v) -> env.put(UcxTransport.TCP_SEGMENT_DEFAULTS.containsKey(k) ? "UCX_TCP_" + k
                : "UCX_" + k, v));
        return env;
    }

    record Row(String transport, int tokens, int blocks, long bytes, long readBytes, int reads, long perftestBytes,
               double firstReadMs, double mibPerSec, double transportMibPerSec, double perftestMibPerSec,
               double sameMibPerSec, double[] ratios, double[] transportRatios, double[] sameRatios) {
    }

    @Override
    public Integer call() throws Exception {
        if (serveTransport != null) {
            return serve();
        }
        int maxBlocks = Arrays.stream(tokens).map(t -> (t + SMALL.blockSize() - 1) / SMALL.blockSize()).max()
                .orElse(1);
        List<Row> rows = new ArrayList<>();
        for (String transport : transports) {
            rows.addAll(runTransport(transport, maxBlocks));
        }
        System.out.printf(Locale.ROOT, "%s, UCX %s, %d cores%n%n", Runtime.version(), ucxVersion(),
                Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "%d rounds x %d migrations (%d untimed first), --max-read-mib %d, "
                + "ucx_perftest -s %s -w 2, --ucx %s, --prefault=%s, --lanes %d%n", rounds, iters, warmup, maxReadMib,
                perftestSize, extraUcx, prefault, lanes());
        for (String t : transports) {
            System.out.printf(Locale.ROOT, "%s: ucx_perftest default %s, same settings %s%n", t,
                    perftestEnv(t, false), perftestEnv(t, true));
        }
        System.out.println();
        System.out.println("| transport | prompt tokens | MiB | our GETs x MiB | first read ms | migration ms "
                + "| migration MiB/s | transport MiB/s | ucx_perftest default MiB/s | ucx_perftest same settings MiB/s "
                + "| ratio to default (range) | transport ratio to default | ratio to same settings (range) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %d | %.0f | %d x %.0f | %.1f | %.1f | %.0f | %.0f | %.0f | %.0f "
                            + "| **%.2f** (%.2f-%.2f) | %.2f | %.2f (%.2f-%.2f) |%n",
                    r.transport, r.tokens, r.bytes / 1048576.0, r.reads, r.readBytes / 1048576.0, r.firstReadMs,
                    r.bytes / 1048576.0 / r.mibPerSec * 1000, r.mibPerSec, r.transportMibPerSec,
                    r.perftestMibPerSec, r.sameMibPerSec, median(r.ratios), min(r.ratios), max(r.ratios),
                    median(r.transportRatios), median(r.sameRatios), min(r.sameRatios), max(r.sameRatios));
        }
        return 0;
    }

    private List<Row> runTransport(String transport, int maxBlocks) throws Exception {
        String cp = System.getProperty("java.class.path");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--enable-native-access=ALL-UNNAMED", "-cp", cp,
                KvTransferBench.class.getName(), "--serve", transport, "--blocks", String.valueOf(maxBlocks),
                "--prefault=" + prefault));
        extraUcx.forEach((k, v) -> cmd.addAll(List.of("--ucx", k + "=" + v)));
        Process child = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        List<Row> rows = new ArrayList<>();
        try (Writer childIn = new OutputStreamWriter(child.getOutputStream(), StandardCharsets.UTF_8)) {
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8));
            String line;
            do {
                line = out.readLine();
            } while (line != null && !line.startsWith("READY "));
            if (line == null) {
                throw new IllegalStateException("prefill process exited before READY");
            }
            String[] w = line.split(" ");
            KvTransferConfig config = KvTransferConfig.builder("decode", SMALL, maxBlocks * SMALL.blockBytes())
                    .ucxConfig(ours(transport)).maxReadBytes(maxReadMib << 20).prefaultArena(prefault).lanes(lanes())
                    .build();
            try (KvTransferEngine decode = KvTransferEngine.create(config)) {
                decode.connect("prefill", w[1], w[2]);
                for (int t : tokens) {
                    int n = (t + SMALL.blockSize() - 1) / SMALL.blockSize();
                    int[] ids = new int[n];
                    Arrays.setAll(ids, i -> i);
                    long f0 = System.nanoTime();
                    decode.read("prefill", ids, ids).get(120, TimeUnit.SECONDS);
                    double firstReadMs = (System.nanoTime() - f0) / 1e6;
                    decode.read("prefill", ids, ids).get(120, TimeUnit.SECONDS);
                    check(decode, n);
                    long bytes = (long) n * SMALL.blockBytes();
                    long getSize = Math.min(bytes, (maxReadMib << 20) / SMALL.blockBytes() * SMALL.blockBytes());
                    long perftestBytes = switch (perftestSize) {
                        case "migration" -> bytes;
                        case "get" -> getSize;
                        default -> throw new IllegalArgumentException("--perftest-size: " + perftestSize
                                + " (expected: migration or get)");
                    };
                    long perftestIters = Math.max(iters, iters * bytes / perftestBytes);
                    double[] ours = new double[rounds];
                    double[] transportOnly = new double[rounds];
                    double[] theirs = new double[rounds];
                    double[] same = new double[rounds];
                    double[] ratios = new double[rounds];
                    double[] sameRatios = new double[rounds];
                    double[] transportRatios = new double[rounds];
                    int reads = 0;
                    for (int round = 0; round < rounds; round++) {
                        for (int step = 0; step < 3; step++) {
                            switch ((round + step) % 3) {
                                case 0 -> {
                                    for (int i = 0; i < warmup; i++) {
                                        decode.read("prefill", ids, ids).get(120, TimeUnit.SECONDS);
                                    }
                                    long nanos = 0;
                                    long start = System.nanoTime();
                                    for (int i = 0; i < iters; i++) {
                                        TransferStats st = decode.read("prefill", ids, ids).get(120, TimeUnit.SECONDS);
                                        reads = st.reads();
                                        nanos += st.nanos();
                                    }
                                    long wall = System.nanoTime() - start;
                                    ours[round] = (double) bytes * iters / 1048576.0 / (wall / 1e9);
                                    transportOnly[round] = (double) bytes * iters / 1048576.0 / (nanos / 1e9);
                                }
                                case 1 -> theirs[round] = perftest(perftestEnv(transport, false), perftestBytes,
                                        perftestIters);
                                default -> same[round] = perftest(perftestEnv(transport, true), perftestBytes,
                                        perftestIters);
                            }
                        }
                        ratios[round] = ours[round] / theirs[round];
                        transportRatios[round] = transportOnly[round] / theirs[round];
                        sameRatios[round] = ours[round] / same[round];
                        System.err.printf(Locale.ROOT, "%s %d tokens, round %d: %.0f MiB/s (transport %.0f), "
                                        + "ucx_perftest default %.0f, same settings %.0f: ratios %.2f, %.2f%n",
                                transport, t, round, ours[round], transportOnly[round], theirs[round], same[round],
                                ratios[round], sameRatios[round]);
                    }
                    check(decode, n);
                    rows.add(new Row(transport, t, n, bytes, getSize, reads, perftestBytes, firstReadMs, median(ours),
                            median(transportOnly), median(theirs), median(same), ratios, transportRatios, sameRatios));
                }
            }
        } finally {
            child.destroy();
            child.waitFor(10, TimeUnit.SECONDS);
            child.destroyForcibly();
        }
        return rows;
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    /** Every 8-byte word of block b at offset o is b * 1e6 + o on the prefill side: check what landed. */
    private static void check(KvTransferEngine decode, int n) {
        long bb = SMALL.blockBytes();
        for (int b = 0; b < n; b++) {
            for (long o : new long[] {0, bb / 2, bb - 8}) {
                long v = decode.arena().segment().get(ValueLayout.JAVA_LONG, b * bb + o);
                if (v != b * 1_000_000L + o) {
                    throw new IllegalStateException("block " + b + " offset " + o + ": " + v);
                }
            }
        }
    }

    /**
     * ucx_perftest ucp_get of {@code size} bytes, {@code iterations} times after 2 warm-ups, between two processes
     * on 127.0.0.1 with {@code env}; bandwidth overall, MiB/s.
     */
    static double perftest(Map<String, String> env, long size, long iterations)
            throws IOException, InterruptedException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ProcessBuilder server = new ProcessBuilder("ucx_perftest", "-p", String.valueOf(port))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        server.environment().putAll(env);
        Process srv = server.start();
        try {
            Thread.sleep(500);
            ProcessBuilder client = new ProcessBuilder("ucx_perftest", "127.0.0.1", "-p", String.valueOf(port),
                    "-t", "ucp_get", "-s", String.valueOf(size), "-n", String.valueOf(iterations), "-w", "2")
                    .redirectErrorStream(true);
            client.environment().putAll(env);
            Process c = client.start();
            String output = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            c.waitFor(300, TimeUnit.SECONDS);
            for (String l : output.split("\n")) {
                if (l.startsWith("Final:")) {
                    String[] f = l.trim().split("\\s+");
                    return Double.parseDouble(f[6]); // Final: iters p50 avg overall | BW avg, BW overall (MB/s)
                }
            }
            throw new IllegalStateException("no Final: line in ucx_perftest output:\n" + output);
        } finally {
            srv.destroy();
            srv.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static String ucxVersion() {
        try {
            Process p = new ProcessBuilder("ucx_info", "-v").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return out.lines().findFirst().orElse("?").replace("# Version ", "").trim();
        } catch (IOException e) {
            return "?";
        }
    }

    private int serve() throws Exception {
        KvTransferConfig config = KvTransferConfig.builder("prefill", SMALL, blocks * SMALL.blockBytes())
                .ucxConfig(ours(serveTransport)).prefaultArena(prefault).build();
        try (KvTransferEngine prefill = KvTransferEngine.create(config)) {
            long bb = SMALL.blockBytes();
            for (int b = 0; b < blocks; b++) {
                for (long o = 0; o < bb; o += 8) {
                    prefill.arena().segment().set(ValueLayout.JAVA_LONG, b * bb + o, b * 1_000_000L + o);
                }
            }
            System.out.println("READY " + prefill.localEndpointInfo() + " " + prefill.zmqAddress());
            System.out.flush();
            while (System.in.read() >= 0) {
                // serve until the parent closes stdin
            }
        }
        return 0;
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new KvTransferBench()).execute(args));
    }
}
