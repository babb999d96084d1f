package io.tandem.bench.dist;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Migration time as a share of time to first token, through two real agent processes (prefill and decode) on this
 * machine, for 1k/4k/16k-token prompts on the {@code small} model shape (12 layers, 4 KV heads, head_dim 64, f32
 * cache, 64-token blocks: 1.5 MiB per block), Q8_0 weights, with a context long enough for the longest prompt.
 *
 * <p>The bench plays the proxy: engine_info, p2p_initialize and p2p_connect on both agents, then per request the
 * prefill ({@code max_tokens=1}, {@code preserve_cache}) and the decode ({@code migration_request}, streamed).
 * Time to first token is from sending the prefill request to the decode's first SSE event; migration time is the
 * decode agent's own measure of the pull ({@code tandem:kv_migration_seconds_sum} before and after, read()
 * to completion), so both include nothing of the other side's HTTP.
 *
 * <p>The agents are started from the engine-agent/server build ({@code --agent-cp}); the bench does not depend on
 * that module, it only runs it.
 */
@Command(name = "dist-bench", mixinStandardHelpOptions = true,
        description = "Migration time as a share of time to first token through a prefill and a decode agent.")
public final class DistServeBench implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Option(names = "--transports", split = ",", defaultValue = "tcp,sm",
            description = "tcp (UCX_TLS=tcp on lo) and/or sm (UCX_TLS=posix,cma,self). Default: ${DEFAULT-VALUE}")
    List<String> transports;

    @Option(names = "--tokens", split = ",", defaultValue = "1024,4096,16384")
    int[] tokens;

    @Option(names = "--iters", defaultValue = "3", description = "Requests per prompt length (median). Default: ${DEFAULT-VALUE}")
    int iters;

    @Option(names = "--threads", defaultValue = "0", description = "Compute threads per agent, 0 = all cores.")
    int threads;

    @Option(names = "--model", description = "GGUF file. Default: the small preset, Q8_0, with a long enough context, "
            + "generated under models/ on first use")
    Path model;

    @Option(names = "--agent-cp", description = "Class path of the agent. Default: "
            + "engine-agent/server/target/classes and its target/classpath.txt")
    String agentCp;

    @Option(names = "--logs", defaultValue = "bench/target/dist-logs", description = "Agent logs. Default: ${DEFAULT-VALUE}")
    Path logs;

    record Row(String transport, int tokens, int blocks, double mib, double prefillMs, double decodeFirstMs,
               double ttftMs, double migrationMs, double share, double mibPerSec) {
    }

    @Override
    public Integer call() throws Exception {
        int maxTokens = Arrays.stream(tokens).max().orElse(1024);
        Path m = model != null ? model : defaultModel(maxTokens);
        String cp = agentCp != null ? agentCp : defaultAgentCp();
        int blocks = (maxTokens + 1 + 63) / 64 + 4;
        List<Row> rows = new ArrayList<>();
        for (String transport : transports) {
            Map<String, String> env = switch (transport) {
                case "tcp" -> Map.of("UCX_TLS", "tcp", "UCX_NET_DEVICES", "lo");
                case "sm" -> Map.of("UCX_TLS", "posix,cma,self");
                default -> throw new IllegalArgumentException("transport: " + transport + " (expected: tcp or sm)");
            };
            try (Agent p = Agent.start(cp, m, env, "prefill", blocks, threads, logs);
                 Agent d = Agent.start(cp, m, env, "decode", blocks, threads, logs)) {
                connect(p, d);
                System.err.println("dist-bench: " + transport + ": warming up");
                measure(p, d, Math.min(512, maxTokens), 1L);
                for (int t : tokens) {
                    List<double[]> runs = new ArrayList<>();
                    for (int i = 0; i < iters; i++) {
                        double[] r = measure(p, d, t, 100L + i);
                        runs.add(r);
                        System.err.printf(Locale.ROOT, "dist-bench: %s %d tokens: prefill %.0f ms, decode first token "
                                        + "%.1f ms, ttft %.0f ms, migration %.1f ms (%.2f%% of ttft, %.0f MiB/s)%n",
                                transport, t, r[0], r[1], r[2], r[3], 100 * r[3] / r[2], r[4] / 1048576.0 / (r[3] / 1000));
                    }
                    runs.sort((a, b) -> Double.compare(a[2], b[2]));
                    double[] r = runs.get(runs.size() / 2);
                    int nBlocks = (t + 63) / 64;
                    rows.add(new Row(transport, t, nBlocks, r[4] / 1048576.0, r[0], r[1], r[2], r[3], r[3] / r[2],
                            r[4] / 1048576.0 / (r[3] / 1000)));
                }
            }
        }
        System.out.printf(Locale.ROOT, "%s, %d cores, model %s%n%n", Runtime.version(),
                Runtime.getRuntime().availableProcessors(), m.getFileName());
        System.out.println("| transport | prompt tokens | blocks | MiB | prefill ms | decode first token ms | TTFT ms | "
                + "migration ms | migration / TTFT | migration MiB/s |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %d | %d | %.0f | %.0f | %.1f | %.0f | %.1f | %.2f%% | %.0f |%n",
                    r.transport, r.tokens, r.blocks, r.mib, r.prefillMs, r.decodeFirstMs, r.ttftMs, r.migrationMs,
                    100 * r.share, r.mibPerSec);
        }
        return 0;
    }

    /** One disaggregated request: {prefill ms, decode first-token ms, TTFT ms, migration ms, migration bytes}. */
    private static double[] measure(Agent p, Agent d, int promptTokens, long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] ids = new int[promptTokens];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 300 + rnd.nextInt(30000); // past the byte and special tokens
        }
        ObjectNode request = JSON.createObjectNode();
        request.set("prompt", JSON.valueToTree(ids));
        request.put("max_tokens", 4);
        request.put("temperature", 0);
        request.put("ignore_eos", true);
        double migSum0 = d.metric("tandem:kv_migration_seconds_sum");
        double bytes0 = d.metric("tandem:kv_migration_bytes_total");

        long t0 = System.nanoTime();
        ObjectNode pre = request.deepCopy();
        pre.put("max_tokens", 1);
        pre.put("stream", false);
        pre.put("with_cache", true);
        pre.put("preserve_cache", true);
        pre.put("session_id", seed);
        JsonNode pr = JSON.readTree(ok(p.post("/v1/completions", pre.toString())));
        long t1 = System.nanoTime();

        ObjectNode mr = JSON.createObjectNode();
        mr.put("protocol", 2);
        mr.put("remote_engine_id", p.base());
        mr.put("remote_session_id", Long.parseLong(pr.get("id").asText()));
        mr.set("remote_block_ids", pr.get("cache_block_ids"));
        mr.put("remote_token_id", pr.at("/remote_token_ids/0").asInt());
        mr.put("is_dummy_prefill", false);
        ObjectNode dec = request.deepCopy();
        dec.put("stream", true);
        dec.set("migration_request", mr);
        HttpResponse<Stream<String>> resp = HTTP.send(HttpRequest.newBuilder(URI.create(d.base() + "/v1/completions"))
                .timeout(Duration.ofMinutes(30)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(dec.toString())).build(), HttpResponse.BodyHandlers.ofLines());
        long t2 = -1;
        Iterator<String> lines = resp.body().iterator();
        while (lines.hasNext()) {
            String line = lines.next();
            if (t2 < 0 && line.startsWith("data: {")) {
                t2 = System.nanoTime();
            }
        }
        if (resp.statusCode() != 200 || t2 < 0) {
            throw new IllegalStateException("decode answered " + resp.statusCode());
        }
        double migration = (d.metric("tandem:kv_migration_seconds_sum") - migSum0) * 1000;
        double bytes = d.metric("tandem:kv_migration_bytes_total") - bytes0;
        return new double[] {(t1 - t0) / 1e6, (t2 - t1) / 1e6, (t2 - t0) / 1e6, migration, bytes};
    }

    private static void connect(Agent p, Agent d) throws Exception {
        JsonNode pc = JSON.readTree(JSON.readTree(ok(p.get("/distserve/engine_info"))).asText());
        JsonNode dc = JSON.readTree(JSON.readTree(ok(d.get("/distserve/engine_info"))).asText());
        JsonNode pi = JSON.readTree(ok(p.post("/distserve/p2p_initialize", init(p, pc, d, dc))));
        JsonNode di = JSON.readTree(ok(d.post("/distserve/p2p_initialize", init(d, dc, p, pc))));
        ok(p.post("/distserve/p2p_connect", conn(d, di)));
        ok(d.post("/distserve/p2p_connect", conn(p, pi)));
    }

    private static String init(Agent local, JsonNode lc, Agent remote, JsonNode rc) {
        ObjectNode b = JSON.createObjectNode();
        b.put("local_engine_id", local.base());
        b.set("local_engine_config", lc);
        b.put("remote_engine_id", remote.base());
        b.set("remote_engine_config", rc);
        b.put("protocol", 2);
        return b.toString();
    }

    private static String conn(Agent remote, JsonNode ri) {
        ObjectNode b = JSON.createObjectNode();
        b.put("protocol", 2);
        b.put("remote_engine_id", remote.base());
        b.set("remote_engine_endpoint_info", ri.get("engine_endpoint_info"));
        b.set("remote_kvtransfer_endpoint_info", ri.get("kvtransfer_endpoint_info"));
        return b.toString();
    }

    private static String ok(HttpResponse<String> r) {
        if (r.statusCode() != 200) {
            throw new IllegalStateException("HTTP " + r.statusCode() + ": " + r.body());
        }
        return r.body();
    }

    /** The small preset with a context that fits {@code tokens} plus a few outputs. */
    static Path defaultModel(int tokens) throws IOException {
        int context = Math.max(2048, (tokens + 64 + 511) / 512 * 512);
        ModelSpec s = ModelSpec.small(GgmlType.Q8_0);
        ModelSpec spec = new ModelSpec(s.name(), s.architecture(), s.dim(), s.nLayers(), s.nHeads(), s.nKvHeads(),
                s.headDim(), s.ffnDim(), s.vocabSize(), context, s.type(), s.tied(), s.seed());
        Path p = Path.of("models", "tandem-small-ctx" + context + "-q8_0.gguf");
        if (!Files.exists(p)) {
            Files.createDirectories(p.toAbsolutePath().getParent());
            System.err.println("dist-bench: generating " + p);
            ModelGenerator.generate(spec, p);
        }
        return p;
    }

    static String defaultAgentCp() throws IOException {
        Path server = Path.of("engine-agent", "server", "target");
        Path cpFile = server.resolve("classpath.txt");
        if (!Files.exists(cpFile)) {
            throw new IllegalStateException(cpFile + " missing: build the agent first "
                    + "(./mvnw -q -B -pl engine-agent/server -am package -DskipTests)");
        }
        return server.resolve("classes") + java.io.File.pathSeparator + Files.readString(cpFile).strip();
    }

    /** An agent child process on 127.0.0.1. */
    record Agent(Process process, int port) implements AutoCloseable {
        static Agent start(String cp, Path model, Map<String, String> env, String role, int blocks, int threads,
                           Path logs) throws Exception {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            Files.createDirectories(logs);
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                    "-Xmx2g", "-cp", cp, "io.tandem.agent.AgentMain", "--model", model.toString(),
                    "--host", "127.0.0.1", "--port", Integer.toString(port), "--role", role,
                    "--kv-blocks", Integer.toString(blocks), "--block-size", "64", "--threads", Integer.toString(threads),
                    "--migration-timeout", "60s", "--cache-lease", "600s");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(logs.resolve(role + "-" + port + ".log").toFile());
            pb.environment().putAll(env);
            Agent a = new Agent(pb.start(), port);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (System.nanoTime() < deadline) {
                if (!a.process.isAlive()) {
                    throw new IllegalStateException(role + " agent exited; see " + logs);
                }
                try {
                    if (a.get("/health").statusCode() == 200) {
                        return a;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
                Thread.sleep(200);
            }
            a.close();
            throw new IllegalStateException(role + " agent did not start in 120 s; see " + logs);
        }

        String base() {
            return "http://127.0.0.1:" + port;
        }

        HttpResponse<String> get(String path) throws IOException, InterruptedException {
            return HTTP.send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30)).GET()
                    .build(), HttpResponse.BodyHandlers.ofString());
        }

        HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
            return HTTP.send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofMinutes(30))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(), HttpResponse.BodyHandlers.ofString());
        }

        double metric(String name) throws IOException, InterruptedException {
            for (String line : get("/metrics").body().split("\n")) {
                if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                    return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            throw new IllegalStateException("no metric " + name + " on " + base());
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new DistServeBench()).execute(args));
    }
}
