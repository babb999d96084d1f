package io.tandem.agent;

import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real agent process for integration tests: {@code java} with this module's runtime class path, bound to
 * 127.0.0.1 on a free port, its output in target/it-logs. Start-up waits (bounded) for /health.
 */
final class AgentProcess implements AutoCloseable {
    static final Path MODULE = Path.of(System.getProperty("tandem.root.dir", "../.."), "engine-agent", "server")
            .toAbsolutePath().normalize();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final Process process;
    final int port;
    final Path log;

    private AgentProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /** The generated tiny F32 model with {@code seed}, written once under target/it-models. */
    static synchronized Path tinyModel(long seed) {
        Path p = MODULE.resolve("target/it-models/tiny-" + seed + ".gguf");
        if (!Files.exists(p)) {
            try {
                Files.createDirectories(p.getParent());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            ModelGenerator.generate(ModelSpec.tiny(GgmlType.F32).withSeed(seed), p);
        }
        return p;
    }

    static AgentProcess start(Path model, String... extraArgs) throws Exception {
        return start(model, java.util.Map.of(), extraArgs);
    }

    /** Starts an agent whose process environment also has {@code env} (UCX_TLS, TANDEM_AGENT_* keys). */
    static AgentProcess start(Path model, java.util.Map<String, String> env, String... extraArgs) throws Exception {
        return start(model, env, true, extraArgs);
    }

    /**
     * Same, with the full JIT: C1 alone starts faster but runs the Vector API kernels some 100x slower, which
     * matters once prompts are hundreds of tokens long.
     */
    static AgentProcess startCompiled(Path model, java.util.Map<String, String> env, String... extraArgs)
            throws Exception {
        return start(model, env, false, extraArgs);
    }

    private static AgentProcess start(Path model, java.util.Map<String, String> env, boolean c1Only,
                                      String... extraArgs) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String cp = MODULE.resolve("target/classes") + java.io.File.pathSeparator
                + Files.readString(MODULE.resolve("target/classpath.txt")).strip();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-XX:+UseSerialGC", "-Xmx512m", c1Only ? "-XX:TieredStopAtLevel=1" : "-XX:+TieredCompilation",
                "-cp", cp, "io.tandem.agent.AgentMain",
                "--model", model.toString(), "--host", "127.0.0.1", "--port", Integer.toString(port)));
        // Test defaults, unless extraArgs gives its own value (the command line refuses an option twice).
        List<String> extra = List.of(extraArgs);
        String[][] defaults = {{"--kv-blocks", "64"}, {"--block-size", "16"}, {"--threads", "2"},
                {"--shutdown-grace", "5s"}};
        for (String[] d : defaults) {
            if (!extra.contains(d[0])) {
                cmd.addAll(List.of(d));
            }
        }
        cmd.addAll(extra);
        Path logs = MODULE.resolve("target/it-logs");
        Files.createDirectories(logs);
        Path log = logs.resolve("agent-" + port + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        AgentProcess a = new AgentProcess(p, port, log);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("agent exited with " + p.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                if (a.get("/health").statusCode() == 200) {
                    return a;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        a.close();
        throw new IllegalStateException("agent did not become healthy in 60 s:\n" + Files.readString(log));
    }

    String base() {
        return "http://127.0.0.1:" + port;
    }

    HttpResponse<String> get(String path, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String body, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A series' value from /metrics, e.g. {@code vllm:num_requests_running}. */
    double metric(String name) throws IOException, InterruptedException {
        for (String line : get("/metrics").body().split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError("no metric " + name);
    }

    /** Nothing running, nothing waiting, no KV block held. */
    boolean idle() throws IOException, InterruptedException {
        return metric("vllm:num_requests_running") == 0 && metric("vllm:num_requests_waiting") == 0
                && metric("tandem:kv_blocks_used") == 0;
    }

    /** SIGKILL: the process gets no chance to close sockets or say goodbye. */
    void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }
}
