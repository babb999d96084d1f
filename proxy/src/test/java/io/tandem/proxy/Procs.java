package io.tandem.proxy;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
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

import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.tensor.GgmlType;

/**
 * Real processes for the integration tests, on 127.0.0.1: agents from the agent module's build and proxies from
 * this module's, each with its output in target/it-logs. Start-up waits (bounded) for /health.
 */
final class Procs {
    static final Path ROOT = Path.of(System.getProperty("tandem.root.dir", "..")).toAbsolutePath().normalize();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Procs() {}

    /** One started process and its HTTP port. */
    static final class Proc implements AutoCloseable {
        final Process process;
        final int port;
        final Path log;

        Proc(Process process, int port, Path log) {
            this.process = process;
            this.port = port;
            this.log = log;
        }

        String base() {
            return "http://127.0.0.1:" + port;
        }

        HttpResponse<String> get(String path, String... headers) throws IOException, InterruptedException {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30));
            if (headers.length > 0) {
                b.headers(headers);
            }
            return HTTP.send(b.GET().build(), HttpResponse.BodyHandlers.ofString());
        }

        HttpResponse<String> post(String path, String body, String... headers) throws IOException, InterruptedException {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(60))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
            if (headers.length > 0) {
                b.headers(headers);
            }
            return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        }

        /** A series' value from /metrics (the first line of {@code name} whose labels contain {@code labelPart}). */
        double metric(String name, String labelPart) throws IOException, InterruptedException {
            for (String line : get("/metrics").body().split("\n")) {
                if ((line.startsWith(name + "{") && line.contains(labelPart)) || line.startsWith(name + " ")) {
                    return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
            return 0;
        }

        /** Nothing running, nothing waiting, no KV block held (an agent). */
        boolean idle() throws IOException, InterruptedException {
            return metric("vllm:num_requests_running", "") == 0 && metric("vllm:num_requests_waiting", "") == 0
                    && metric("tandem:kv_blocks_used", "") == 0;
        }

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

    /** The generated tiny F32 model, written once under target/it-models. */
    static Path tinyModel() {
        return tinyModel(42);
    }

    /** The tiny F32 model of another seed: same shapes and tokenizer size, other weights. */
    static synchronized Path tinyModel(long seed) {
        Path p = ROOT.resolve("proxy/target/it-models/tiny-" + seed + ".gguf");
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

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static Proc agent(String... extraArgs) throws Exception {
        return agent(java.util.Map.of(), extraArgs);
    }

    /** An agent whose process environment also has {@code env} (e.g. UCX_TLS for a prefill or decode role). */
    static Proc agent(java.util.Map<String, String> env, String... extraArgs) throws Exception {
        return agent(tinyModel(), freePort(), env, extraArgs);
    }

    /** An agent on {@code model} and {@code port} (e.g. the port of one that was killed, to restart it). */
    static Proc agent(Path model, int port, java.util.Map<String, String> env, String... extraArgs) throws Exception {
        Path module = ROOT.resolve("engine-agent/server");
        List<String> cmd = java(module, "io.tandem.agent.AgentMain");
        cmd.addAll(List.of("--model", model.toString(), "--host", "127.0.0.1", "--port", Integer.toString(port),
                "--kv-blocks", "160", "--block-size", "16", "--threads", "1", "--shutdown-grace", "2s"));
        cmd.addAll(List.of(extraArgs));
        return start(cmd, port, "agent", env);
    }

    /** A proxy on {@code port} (0 = a free one); {@code jvmProps} are -D settings (e.g. health interval). */
    static Proc proxy(int port, List<String> jvmProps, String... args) throws Exception {
        int p = port == 0 ? freePort() : port;
        List<String> cmd = java(ROOT.resolve("proxy"), "io.tandem.proxy.ProxyMain");
        cmd.addAll(1, jvmProps);
        cmd.addAll(List.of("--host", "127.0.0.1", "--port", Integer.toString(p)));
        cmd.addAll(List.of(args));
        return start(cmd, p, "proxy", java.util.Map.of());
    }

    private static List<String> java(Path module, String main) {
        String cp;
        try {
            cp = module.resolve("target/classes") + File.pathSeparator
                    + Files.readString(module.resolve("target/classpath.txt")).strip();
        } catch (IOException e) {
            throw new UncheckedIOException("build " + module + " first (mvn package)", e);
        }
        return new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-XX:+UseSerialGC", "-Xmx384m", "-cp", cp, main));
    }

    private static Proc start(List<String> cmd, int port, String kind, java.util.Map<String, String> env)
            throws Exception {
        Path logs = ROOT.resolve("proxy/target/it-logs");
        Files.createDirectories(logs);
        Path log = logs.resolve(kind + "-" + port + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        Proc proc = new Proc(p, port, log);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException(kind + " exited with " + p.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                int status = proc.get("/health").statusCode();
                // 403: up, but an IP allowlist leaves this test's 127.0.0.1 out (SecurityIT).
                if (status == 200 || (kind.equals("proxy") && status == 403)) {
                    return proc;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        proc.close();
        throw new IllegalStateException(kind + " did not become healthy in 60 s:\n" + Files.readString(log));
    }
}
