package io.tandem.bench.kv;

import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.KvTransferConfig;
import io.tandem.kv.KvTransferEngine;
import io.tandem.kv.TransferStats;
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
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
 * 4 KV heads, head_dim 64, f32, 64-token blocks: 1.5 MiB each); this process is the decode side and reads the
 * blocks of a 1k/4k/16k-token prompt (16/64/256 blocks, contiguous on both sides, so coalesced into GETs of
 * {@code --max-read-mib}).
 *
 * <p>The comparison is like for like: by default {@code ucx_perftest -s} is the whole migration, so both read the
 * same number of bytes from one region of that size, re-read every iteration ({@code --perftest-size get} uses one
 * GET's size instead, as earlier versions did). Both are reported as "overall" bandwidth, total bytes / total wall
 * time of the timed iterations (for us: {@code read()} to the future's completion, back to back). On a shared
 * machine the two are interleaved: each of {@code --rounds} rounds times our iterations and then one
 * {@code ucx_perftest} run, and the table gives the medians over rounds and the median of the per-round ratios.
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

    @Option(names = "--iters", defaultValue = "10")
    int iters;

    @Option(names = "--max-read-mib", defaultValue = "1024",
            description = "Largest single GET (KvTransferConfig.maxReadBytes). Default: ${DEFAULT-VALUE}")
    long maxReadMib;

    @Option(names = "--rounds", defaultValue = "5",
            description = "Rounds of (our iterations, one ucx_perftest run), interleaved. Default: ${DEFAULT-VALUE}")
    int rounds;

    @Option(names = "--perftest-size", defaultValue = "migration",
            description = "ucx_perftest -s: migration (the whole migration, like for like) or get (one of our GETs)."
                    + " Default: ${DEFAULT-VALUE}")
    String perftestSize;

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

    record Row(String transport, int tokens, int blocks, long bytes, long readBytes, int reads, long perftestBytes,
               double mibPerSec, double bestMibPerSec, double perftestMibPerSec, double bestPerftestMibPerSec,
               double ratio) {
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
        System.out.printf(Locale.ROOT, "%d rounds x %d migrations, --max-read-mib %d, ucx_perftest -s %s%n%n",
                rounds, iters, maxReadMib, perftestSize);
        System.out.println("| transport | prompt tokens | MiB | our GETs x MiB | migration ms | migration MiB/s (best) "
                + "| ucx_perftest -s MiB | ucx_perftest GET MiB/s (best) | ratio (median of rounds) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %d | %.0f | %d x %.0f | %.1f | %.0f (%.0f) | %.0f | %.0f (%.0f) | %.2f |%n",
                    r.transport, r.tokens, r.bytes / 1048576.0, r.reads, r.readBytes / 1048576.0,
                    r.bytes / 1048576.0 / r.mibPerSec * 1000, r.mibPerSec, r.bestMibPerSec,
                    r.perftestBytes / 1048576.0, r.perftestMibPerSec, r.bestPerftestMibPerSec, r.ratio);
        }
        return 0;
    }

    private List<Row> runTransport(String transport, int maxBlocks) throws Exception {
        String cp = System.getProperty("java.class.path");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process child = new ProcessBuilder(java.toString(), "--enable-native-access=ALL-UNNAMED", "-cp", cp,
                KvTransferBench.class.getName(), "--serve", transport, "--blocks", String.valueOf(maxBlocks))
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
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
                    .ucxConfig(ucx(transport)).maxReadBytes(maxReadMib << 20).build();
            try (KvTransferEngine decode = KvTransferEngine.create(config)) {
                decode.connect("prefill", w[1], w[2]);
                for (int t : tokens) {
                    int n = (t + SMALL.blockSize() - 1) / SMALL.blockSize();
                    int[] ids = new int[n];
                    Arrays.setAll(ids, i -> i);
                    for (int i = 0; i < 2; i++) {
                        decode.read("prefill", ids, ids).get(120, TimeUnit.SECONDS);
                    }
                    check(decode, n);
                    long bytes = (long) n * SMALL.blockBytes();
                    long getSize = Math.min(bytes, (maxReadMib << 20) / SMALL.blockBytes() * SMALL.blockBytes());
                    long perftestBytes = switch (perftestSize) {
                        case "migration" -> bytes;
                        case "get" -> getSize;
                        default -> throw new IllegalArgumentException("--perftest-size: " + perftestSize
                                + " (expected: migration or get)");
                    };
                    double[] ours = new double[rounds];
                    double[] theirs = new double[rounds];
                    double[] ratios = new double[rounds];
                    int reads = 0;
                    for (int round = 0; round < rounds; round++) {
                        long start = System.nanoTime();
                        for (int i = 0; i < iters; i++) {
                            reads = decode.read("prefill", ids, ids).get(120, TimeUnit.SECONDS).reads();
                        }
                        ours[round] = (double) bytes * iters / 1048576.0 / ((System.nanoTime() - start) / 1e9);
                        theirs[round] = perftest(transport, perftestBytes, Math.max(10, iters * bytes / perftestBytes));
                        ratios[round] = ours[round] / theirs[round];
                        System.err.printf(Locale.ROOT, "%s %d tokens, round %d: %.0f MiB/s, ucx_perftest %.0f MiB/s,"
                                + " ratio %.2f%n", transport, t, round, ours[round], theirs[round], ratios[round]);
                    }
                    check(decode, n);
                    rows.add(new Row(transport, t, n, bytes, getSize, reads, perftestBytes, median(ours), max(ours),
                            median(theirs), max(theirs), median(ratios)));
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
     * on 127.0.0.1 with the same UCX_TLS; bandwidth overall, MiB/s.
     */
    static double perftest(String transport, long size, long iterations) throws IOException, InterruptedException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Map<String, String> env = new HashMap<>();
        ucx(transport).forEach((k, v) -> env.put("UCX_" + k, v));
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
            System.err.println("  " + env + " " + String.join(" ", client.command()));
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
                .ucxConfig(ucx(serveTransport)).build();
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
