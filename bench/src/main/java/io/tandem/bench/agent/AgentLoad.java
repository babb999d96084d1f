package io.tandem.bench.agent;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Drives one agent with concurrent streaming chat requests and measures what a user sees, from the client side:
 * time to first token (request sent to first content chunk), inter-token latency (gaps between content chunks,
 * as vLLM's benchmark_serving counts them), and output tokens per second over the whole level (completion tokens
 * from {@code stream_options.include_usage}, over the level's wall time).
 *
 * <p>Each level runs {@code concurrency} closed-loop clients; each sends {@code requestsPerClient} requests one
 * after the other and starts none after the level's deadline. Bounded in count and time; 127.0.0.1 only.
 */
public final class AgentLoad {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One level's figures; latencies in milliseconds. */
    public record Level(int concurrency, int requests, int failed, double ttftP50, double ttftP99, double itlP50,
                        double itlP99, double outputTokS, double seconds) {
    }

    private record Sample(double ttftMs, double[] itlMs, int tokens) {
    }

    private final URI chat;
    private final String body;
    private final Duration requestTimeout;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    /**
     * @param port       the agent's port on 127.0.0.1
     * @param prompt     the user message
     * @param maxTokens  tokens each request generates (ignore_eos, so exactly this many)
     */
    public AgentLoad(int port, String prompt, int maxTokens, Duration requestTimeout) {
        this.chat = URI.create("http://127.0.0.1:" + port + "/v1/chat/completions");
        this.requestTimeout = requestTimeout;
        this.body = JSON.createObjectNode()
                .put("messages", prompt)
                .put("max_tokens", maxTokens)
                .put("ignore_eos", true)
                .put("temperature", 1.0)
                .put("stream", true)
                .set("stream_options", JSON.createObjectNode().put("include_usage", true))
                .toString();
    }

    /** Runs one level. */
    public Level run(int concurrency, int requestsPerClient, Duration deadline) throws Exception {
        List<Sample> samples = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger failed = new AtomicInteger();
        long end = System.nanoTime() + deadline.toNanos();
        long t0 = System.nanoTime();
        try (ExecutorService clients = Executors.newFixedThreadPool(concurrency)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < concurrency; c++) {
                fs.add(clients.submit(() -> {
                    for (int i = 0; i < requestsPerClient && System.nanoTime() < end; i++) {
                        try {
                            samples.add(one());
                        } catch (Exception e) {
                            failed.incrementAndGet();
                            System.err.println("request failed: " + e);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double[] ttft = samples.stream().mapToDouble(Sample::ttftMs).sorted().toArray();
        double[] itl = samples.stream().flatMapToDouble(s -> Arrays.stream(s.itlMs())).sorted().toArray();
        long tokens = samples.stream().mapToLong(Sample::tokens).sum();
        return new Level(concurrency, samples.size(), failed.get(), pct(ttft, 50), pct(ttft, 99), pct(itl, 50),
                pct(itl, 99), tokens / seconds, seconds);
    }

    /** One streaming request, timed chunk by chunk. */
    Sample one() throws IOException, InterruptedException {
        HttpRequest req = HttpRequest.newBuilder(chat).timeout(requestTimeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        long sent = System.nanoTime();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        long first = -1;
        long last = -1;
        List<Double> gaps = new ArrayList<>();
        int tokens = -1;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            if (r.statusCode() != 200) {
                throw new IOException("HTTP " + r.statusCode() + ": " + in.readLine());
            }
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: {")) {
                    continue;
                }
                long now = System.nanoTime();
                JsonNode chunk = JSON.readTree(line.substring(6));
                JsonNode usage = chunk.get("usage");
                if (usage != null && usage.has("completion_tokens")) {
                    tokens = usage.get("completion_tokens").asInt();
                }
                JsonNode choices = chunk.path("choices");
                if (choices.isEmpty() || choices.get(0).path("delta").path("content").asText("").isEmpty()) {
                    continue; // the role chunk, the finish chunk, the usage chunk
                }
                if (first < 0) {
                    first = now;
                } else {
                    gaps.add((now - last) / 1e6);
                }
                last = now;
            }
        }
        if (first < 0 || tokens < 0) {
            throw new IOException("stream ended without content or usage");
        }
        return new Sample((first - sent) / 1e6, gaps.stream().mapToDouble(Double::doubleValue).toArray(), tokens);
    }

    /** Nearest-rank percentile of sorted values; NaN when empty. */
    static double pct(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.clamp(rank - 1, 0, sorted.length - 1)];
    }

    /** A Markdown table of the levels. */
    public static String table(List<Level> levels) {
        StringBuilder b = new StringBuilder();
        b.append("| concurrency | requests (failed) | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms | output tok/s |\n");
        b.append("|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Level l : levels) {
            b.append(String.format(Locale.ROOT, "| %d | %d (%d) | %.0f | %.0f | %.1f | %.1f | %.1f |%n", l.concurrency(),
                    l.requests(), l.failed(), l.ttftP50(), l.ttftP99(), l.itlP50(), l.itlP99(), l.outputTokS()));
        }
        return b.toString();
    }
}
