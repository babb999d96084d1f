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
 * each proxy. All processes share this machine's cores, the driver included.
 *
 * <pre>./tandem bench proxy [--seconds 10] [--concurrency 16,64]</pre>
 */
@Command(name = "proxy", mixinStandardHelpOptions = true,
        description = "Tandem proxy vs nginx in front of a mock OpenAI backend: requests/s, p50/p99.")
public final class ProxyBench implements Callable<Integer> {
    @Option(names = "--seconds", description = "Measured seconds per cell (after 2 s warm-up). Default: 10")
    int seconds = 10;
    @Option(names = "--concurrency", split = ",", description = "Default: 16,64")
    List<Integer> concurrency = List.of(16, 64);
    @Option(names = "--root", description = "Tandem checkout (for ./tandem proxy). Default: .")
    Path root = Path.of(".");

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
            started.add(nginx(work, nginxPort, mockPort));
            int tandemPort = freePort();
            Process tandem = new ProcessBuilder(root.resolve("tandem").toString(), "proxy", "--host", "127.0.0.1",
                    "--port", Integer.toString(tandemPort), "--strategy", "random")
                    .redirectErrorStream(true).redirectOutput(work.resolve("tandem-proxy.log").toFile()).start();
            started.add(tandem);
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            waitHealthy(http, "http://127.0.0.1:" + tandemPort + "/health");
            waitHealthy(http, "http://127.0.0.1:" + nginxPort + "/health");
            http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + tandemPort + "/nodes/add"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"url\":\"http://127.0.0.1:" + mockPort
                            + "\",\"status\":{\"models\":[\"mock\"]}}")).build(), HttpResponse.BodyHandlers.ofString());
            Thread.sleep(1500); // the first health probe
            String[] names = {"mock (direct)", "nginx", "tandem"};
            int[] ports = {mockPort, nginxPort, tandemPort};
            System.out.printf(Locale.ROOT, "%-6s %-5s %-14s %10s %9s %9s %8s %12s %7s%n", "stream", "conc", "target",
                    "req/s", "p50 ms", "p99 ms", "x nginx", "+p99 ms", "errors");
            for (boolean stream : new boolean[] {false, true}) {
                for (int c : concurrency) {
                    Result[] r = new Result[3];
                    for (int i = 0; i < 3; i++) {
                        r[i] = load(ports[i], c, stream);
                    }
                    for (int i = 0; i < 3; i++) {
                        System.out.printf(Locale.ROOT, "%-6s %-5d %-14s %10.0f %9.2f %9.2f %8s %12s %7d%n", stream, c,
                                names[i], r[i].rps, r[i].p50, r[i].p99,
                                i == 2 ? String.format(Locale.ROOT, "%.2f", r[2].rps / r[1].rps) : "",
                                i == 2 ? String.format(Locale.ROOT, "%+.2f", r[2].p99 - r[1].p99) : "", r[i].errors);
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

    record Result(double rps, double p50, double p99, long errors) {}

    Result load(int port, int connections, boolean stream) throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .executor(Executors.newVirtualThreadPerTaskExecutor()).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(BODY + ",\"stream\":" + stream + "}")).build();
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        java.util.concurrent.atomic.LongAdder errors = new java.util.concurrent.atomic.LongAdder();
        List<long[]> perThread = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            long[] lat = new long[2_000_000];
            perThread.add(lat);
            threads.add(Thread.ofVirtual().start(() -> {
                int n = 0;
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
                    if (measuring.get() && n < lat.length - 1) {
                        lat[++n] = System.nanoTime() - t0;
                        lat[0] = n;
                    }
                }
            }));
        }
        Thread.sleep(2000);
        measuring.set(true);
        long start = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        measuring.set(false);
        double elapsed = (System.nanoTime() - start) / 1e9;
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        http.close();
        long total = perThread.stream().mapToLong(l -> l[0]).sum();
        long[] all = new long[(int) total];
        int at = 0;
        for (long[] l : perThread) {
            System.arraycopy(l, 1, all, at, (int) l[0]);
            at += (int) l[0];
        }
        Arrays.sort(all);
        if (all.length == 0) {
            return new Result(0, Double.NaN, Double.NaN, errors.sum());
        }
        return new Result(total / elapsed, all[(int) (all.length * 0.50)] / 1e6, all[(int) (all.length * 0.99)] / 1e6,
                errors.sum());
    }

    static HttpServer mock() throws IOException {
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
