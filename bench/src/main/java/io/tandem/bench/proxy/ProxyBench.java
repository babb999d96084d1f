package io.tandem.bench.proxy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import com.sun.net.httpserver.HttpServer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Proxy overhead, in one run: a fast mock OpenAI backend on 127.0.0.1, nginx as a reverse proxy in front of it
 * (generated config), and the Tandem proxy (hybrid mode, the mock as its one node) in front of it. A closed-loop
 * load driver (JDK HttpClient, one virtual thread per connection) measures requests/s and p50/p99 latency at each
 * concurrency, non-streaming and streaming (the mock streams 8 SSE events), directly against the mock and through
 * each proxy. All processes share this machine's cores, the driver included. Each target is first driven for
 * {@code --target-warmup} seconds, so that a JVM in the path is measured after its JIT warm-up, as nginx is; every
 * cell then has 2 s of unmeasured warm-up of its own.
 *
 * <pre>./tandem bench-proxy [--seconds 10] [--concurrency 16,64] [--target-warmup 10] [--repeat 1]</pre>
 */
@Command(name = "proxy", mixinStandardHelpOptions = true,
        description = "Tandem proxy vs nginx in front of a mock OpenAI backend: requests/s, p50/p99.")
public final class ProxyBench implements Callable<Integer> {
    @Option(names = "--seconds", description = "Measured seconds per cell (after 2 s warm-up). Default: 10")
    int seconds = 10;
    @Option(names = "--concurrency", split = ",", description = "Default: 16,64")
    List<Integer> concurrency = List.of(16, 64);
    @Option(names = "--target-warmup", description = "Seconds each target is driven once, before its first cell, "
            + "at the highest concurrency (half non-streaming, half streaming): the JVMs in the path (the mock, the "
            + "Tandem proxy) reach steady state (JIT) before anything is measured. Default: 10")
    int targetWarmup = 10;
    @Option(names = "--root", description = "Tandem checkout (for ./tandem proxy). Default: .")
    Path root = Path.of(".");
    @Option(names = "--micronaut-routing", description = "Also measure a second Tandem proxy with its Netty fast "
            + "path off (tandem.proxy.fast-path=false: Micronaut routes the generation requests), in the same run.")
    boolean micronautRouting;
    @Option(names = "--also", description = "Another Tandem proxy measured in the same run, as LABEL:KEY=VALUE[,KEY=VALUE...] "
            + "(environment variables of its process), e.g. nio:MICRONAUT_SERVER_NETTY_USE_NATIVE_TRANSPORT=false; "
            + "the key ROOT=DIR runs another checkout's proxy (before/after in one run). Repeatable.")
    List<String> also = new ArrayList<>();
    @Option(names = "--repeat", description = "Rounds per cell: every target is measured once per round, the targets "
            + "taking turns, and each column is the median over the rounds (x nginx and +p99 are medians of the "
            + "ratio and the difference within a round). On a shared machine the load drifts between the targets of "
            + "one round less than between rounds. Default: 1")
    int repeat = 1;

    static final byte[] WHOLE = ("{\"id\":\"cmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"mock\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hello from the mock\"},"
            + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":4,\"total_tokens\":9}}")
            .getBytes(StandardCharsets.UTF_8);
    static final byte[] EVENT = ("data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
            + "\"model\":\"mock\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\"},\"finish_reason\":null}]}\n\n")
            .getBytes(StandardCharsets.UTF_8);
    static final String BODY = "{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":8";

    public static void main(String[] args) {
        System.exit(new CommandLine(new ProxyBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        HttpServer mock = mock();
        int mockPort = mock.getAddress().getPort();
        List<Process> started = new ArrayList<>();
        Path work = Files.createTempDirectory("tandem-proxy-bench");
        try {
            int nginxPort = freePort();
            Process nginx = nginx(work, nginxPort, mockPort);
            started.add(nginx);
            List<String> names = new ArrayList<>(List.of("mock (direct)", "nginx"));
            List<Integer> ports = new ArrayList<>(List.of(mockPort, nginxPort));
            List<ProcessHandle> proxies = new ArrayList<>(Arrays.asList(null, nginx.toHandle()));
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            waitHealthy(http, "http://127.0.0.1:" + nginxPort + "/health");
            List<String> variants = new ArrayList<>();
            variants.add("tandem:");
            if (micronautRouting) {
                variants.add("tandem/mn:TANDEM_PROXY_FAST_PATH=false");
            }
            variants.addAll(also);
            for (String variant : variants) {
                int colon = variant.indexOf(':');
                if (colon <= 0) {
                    throw new IllegalArgumentException("--also " + variant + " (expected: LABEL:KEY=VALUE[,KEY=VALUE...])");
                }
                java.util.Map<String, String> env = new java.util.LinkedHashMap<>();
                for (String kv : variant.substring(colon + 1).split(",")) {
                    if (!kv.isBlank()) {
                        int eq = kv.indexOf('=');
                        env.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
                    }
                }
                int tandemPort = freePort();
                Process tandem = tandem(work, tandemPort, env);
                started.add(tandem);
                waitHealthy(http, "http://127.0.0.1:" + tandemPort + "/health");
                http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + tandemPort + "/nodes/add"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"url\":\"http://127.0.0.1:" + mockPort
                                + "\",\"status\":{\"models\":[\"mock\"]}}")).build(), HttpResponse.BodyHandlers.ofString());
                names.add(variant.substring(0, colon));
                ports.add(tandemPort);
                proxies.add(tandem.toHandle());
            }
            Thread.sleep(1500); // the first health probe
            int maxConcurrency = concurrency.stream().mapToInt(Integer::intValue).max().orElse(1);
            for (int port : ports) {
                load(port, null, maxConcurrency, false, targetWarmup / 2, 0);
                load(port, null, maxConcurrency, true, targetWarmup - targetWarmup / 2, 0);
            }
            System.out.printf(Locale.ROOT, "%-6s %-5s %-14s %10s %9s %9s %8s %12s %7s %16s %14s%n", "stream", "conc",
                    "target", "req/s", "p50 ms", "p99 ms", "x nginx", "+p99 ms", "errors", "driver+mock us", "proxy us");
            for (boolean stream : new boolean[] {false, true}) {
                for (int c : concurrency) {
                    int n = ports.size();
                    Result[][] rounds = new Result[repeat][n];
                    for (int k = 0; k < repeat; k++) {
                        for (int i = 0; i < n; i++) {
                            rounds[k][i] = load(ports.get(i), proxies.get(i), c, stream, 2, seconds);
                        }
                    }
                    for (int i = 0; i < n; i++) {
                        Result m = median(rounds, i);
                        final int t = i;
                        String ratio = i >= 2 ? String.format(Locale.ROOT, "%.2f",
                                median(rounds, r -> r[t].rps / r[1].rps)) : "";
                        String addedP99 = i >= 2 ? String.format(Locale.ROOT, "%+.2f",
                                median(rounds, r -> r[t].p99 - r[1].p99)) : "";
                        System.out.printf(Locale.ROOT, "%-6s %-5d %-14s %10.0f %9.2f %9.2f %8s %12s %7d %16.0f %14s%n",
                                stream, c, names.get(i), m.rps, m.p50, m.p99, ratio, addedP99, m.errors,
                                m.driverCpuMicros, i == 0 ? "" : String.format(Locale.ROOT, "%.0f",
                                        m.proxyCpuMicros));
                    }
                }
            }
        } finally {
            for (Process p : started) {
                p.descendants().forEach(ProcessHandle::destroy);
                p.destroy();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
            mock.stop(0);
        }
        return 0;
    }

    /** Each column's median over the rounds for target {@code i} (errors: the sum). */
    static Result median(Result[][] rounds, int i) {
        return new Result(median(rounds, r -> r[i].rps), median(rounds, r -> r[i].p50), median(rounds, r -> r[i].p99),
                Arrays.stream(rounds).mapToLong(r -> r[i].errors).sum(), median(rounds, r -> r[i].driverCpuMicros),
                median(rounds, r -> r[i].proxyCpuMicros));
    }

    /** The median of {@code f} over the rounds (the mean of the middle two for an even count). */
    static double median(Result[][] rounds, java.util.function.ToDoubleFunction<Result[]> f) {
        double[] v = Arrays.stream(rounds).mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** A Tandem proxy in hybrid mode on {@code port} with {@code env} added; its log is in {@code work}. */
    private Process tandem(Path work, int port, java.util.Map<String, String> env) throws IOException {
        env = new java.util.LinkedHashMap<>(env);
        String otherRoot = env.remove("ROOT");
        Path checkout = otherRoot == null ? root : Path.of(otherRoot);
        ProcessBuilder command = new ProcessBuilder(checkout.resolve("tandem").toString(), "proxy", "--host", "127.0.0.1",
                "--port", Integer.toString(port), "--strategy", "random");
        // The saturated machine delays the mock's /health past the default 500 ms probe timeout now and then,
        // and probe timeouts open the node's breaker (503s); nginx does no active probing at all.
        command.environment().put("TANDEM_PROXY_HEALTH_TIMEOUT", "2s");
        command.environment().putAll(env);
        return command.redirectErrorStream(true)
                .redirectOutput(work.resolve("tandem-proxy-" + port + ".log").toFile()).start();
    }

    /**
     * One cell. {@code driverCpuMicros}: CPU time of this JVM (load driver and mock) per request while measuring;
     * {@code proxyCpuMicros}: the same for the proxy's processes (nginx's master and workers, or the Tandem JVM).
     */
    record Result(double rps, double p50, double p99, long errors, double driverCpuMicros, double proxyCpuMicros) {}

    /**
     * Drives {@code port} with {@code connections} closed loops: {@code warmup} s unmeasured, then {@code measured} s;
     * {@code proxy} (may be null) is the process tree whose CPU time is counted.
     */
    Result load(int port, ProcessHandle proxy, int connections, boolean stream, int warmup, int measured)
            throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(Executors.newVirtualThreadPerTaskExecutor()).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(BODY + ",\"stream\":" + stream + "}")).build();
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        java.util.concurrent.atomic.LongAdder errors = new java.util.concurrent.atomic.LongAdder();
        List<Latencies> perThread = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            Latencies lat = new Latencies();
            perThread.add(lat);
            threads.add(Thread.ofVirtual().start(() -> {
                while (!stop.get()) {
                    long t0 = System.nanoTime();
                    boolean ok;
                    try {
                        ok = http.send(req, HttpResponse.BodyHandlers.ofByteArray()).statusCode() == 200;
                    } catch (IOException | InterruptedException e) {
                        ok = false;
                    }
                    if (!ok) {
                        if (measuring.get()) {
                            errors.increment();
                        }
                        continue;
                    }
                    if (measuring.get()) {
                        lat.add(System.nanoTime() - t0);
                    }
                }
            }));
        }
        Thread.sleep(warmup * 1000L);
        measuring.set(true);
        long start = System.nanoTime();
        long driverCpu0 = cpuNanos(ProcessHandle.current());
        long proxyCpu0 = cpuNanos(proxy);
        Thread.sleep(measured * 1000L);
        measuring.set(false);
        double elapsed = (System.nanoTime() - start) / 1e9;
        long driverCpu = cpuNanos(ProcessHandle.current()) - driverCpu0;
        long proxyCpu = cpuNanos(proxy) - proxyCpu0;
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        http.close();
        long total = perThread.stream().mapToLong(l -> l.n).sum();
        long[] all = new long[(int) total];
        int at = 0;
        for (Latencies l : perThread) {
            System.arraycopy(l.nanos, 0, all, at, l.n);
            at += l.n;
        }
        Arrays.sort(all);
        if (all.length == 0 || measured == 0) {
            return new Result(0, Double.NaN, Double.NaN, errors.sum(), Double.NaN, Double.NaN);
        }
        return new Result(total / elapsed, all[(int) (all.length * 0.50)] / 1e6, all[(int) (all.length * 0.99)] / 1e6,
                errors.sum(), driverCpu / 1e3 / total, proxyCpu / 1e3 / total);
    }

    /**
     * One connection's latencies, grown as needed: preallocating for the worst case (once 16 MB per connection)
     * made the driver's JVM, which is also the mock, stop for seconds in full GCs at concurrency 64.
     */
    static final class Latencies {
        long[] nanos = new long[4096];
        int n;

        void add(long v) {
            if (n == nanos.length) {
                nanos = Arrays.copyOf(nanos, n * 2);
            }
            nanos[n++] = v;
        }
    }

    /** CPU time of {@code p} and its descendants so far (0 for null). */
    static long cpuNanos(ProcessHandle p) {
        if (p == null) {
            return 0;
        }
        return java.util.stream.Stream.concat(java.util.stream.Stream.of(p), p.descendants())
                .mapToLong(h -> h.info().totalCpuDuration().map(Duration::toNanos).orElse(0L)).sum();
    }

    static HttpServer mock() throws IOException {
        // The JDK server closes a connection after its answer once it holds 200 idle ones (its default). nginx's
        // keep-alive pool to the mock (up to 128 per worker) and the earlier cells' connections fill that quota,
        // and whichever proxy runs after nginx would then get a new connection for most of its requests: unfair
        // to that proxy and costly to the mock. Read when the first server is created.
        System.setProperty("sun.net.httpserver.maxIdleConnections", "4096");
        // Without TCP_NODELAY the mock's small SSE writes wait for the reader's delayed ACK (~40 ms per stream), and
        // the streaming cells measured that stall instead of the proxies.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
        s.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        s.createContext("/health", ex -> {
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        s.createContext("/v1/", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            boolean stream = new String(body, StandardCharsets.UTF_8).contains("\"stream\":true");
            if (stream) {
                ex.getResponseHeaders().add("Content-Type", "text/event-stream");
                ex.sendResponseHeaders(200, 0);
                try (OutputStream out = ex.getResponseBody()) {
                    for (int i = 0; i < 8; i++) {
                        out.write(EVENT);
                        out.flush();
                    }
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                }
            } else {
                ex.getResponseHeaders().add("Content-Type", "application/json");
                ex.sendResponseHeaders(200, WHOLE.length);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(WHOLE);
                }
            }
        });
        s.start();
        return s;
    }

    static Process nginx(Path work, int port, int mockPort) throws IOException {
        Path conf = work.resolve("nginx.conf");
        Files.createDirectories(work.resolve("logs"));
        Files.writeString(conf, """
                worker_processes 2;
                daemon off;
                pid %1$s/nginx.pid;
                error_log %1$s/logs/error.log warn;
                events { worker_connections 4096; }
                http {
                  access_log off;
                  client_body_temp_path %1$s/body;
                  proxy_temp_path %1$s/proxy;
                  fastcgi_temp_path %1$s/fastcgi;
                  uwsgi_temp_path %1$s/uwsgi;
                  scgi_temp_path %1$s/scgi;
                  upstream mock { server 127.0.0.1:%3$d; keepalive 128; }
                  server {
                    listen 127.0.0.1:%2$d;
                    location / {
                      proxy_pass http://mock;
                      proxy_http_version 1.1;
                      proxy_set_header Connection "";
                      proxy_buffering off;
                    }
                  }
                }
                """.formatted(work, port, mockPort));
        String nginx = Files.exists(Path.of("/usr/sbin/nginx")) ? "/usr/sbin/nginx" : "nginx";
        return new ProcessBuilder(nginx, "-p", work.toString(), "-c", conf.toString())
                .redirectErrorStream(true).redirectOutput(work.resolve("nginx.out").toFile()).start();
    }

    static void waitHealthy(HttpClient http, String url) throws Exception {
        for (int i = 0; i < 600; i++) {
            try {
                if (http.send(HttpRequest.newBuilder(URI.create(url)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException(url + " did not answer in 60 s");
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
