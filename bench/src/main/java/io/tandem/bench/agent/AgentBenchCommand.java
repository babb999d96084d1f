package io.tandem.bench.agent;

import io.tandem.bench.EngineBench;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
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
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem bench agent}: starts one agent process on a generated model (the {@code small} Q8_0 preset unless
 * told otherwise; generated on first use by {@link EngineBench#model}), drives it with {@link AgentLoad} at each
 * concurrency, prints a Markdown table and stops the agent. The agent is started through the {@code tandem}
 * launcher (which builds engine-agent/server when needed), so this module does not depend on the server.
 */
@Command(name = "agent", mixinStandardHelpOptions = true,
        description = "Time to first token, inter-token latency and output tok/s of one agent process under "
                + "concurrent streaming chat requests (127.0.0.1).")
public final class AgentBenchCommand implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "small", description = "Model preset. Default: ${DEFAULT-VALUE}")
    String preset;

    @Option(names = "--type", defaultValue = "q8_0", description = "Weight type. Default: ${DEFAULT-VALUE}")
    String type;

    @Option(names = "--models", defaultValue = "models", description = "Where generated models are kept. Default: ${DEFAULT-VALUE}")
    Path models;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32", description = "Default: ${DEFAULT-VALUE}")
    int[] concurrency;

    @Option(names = "--requests-per-client", defaultValue = "2", description = "Default: ${DEFAULT-VALUE}")
    int requestsPerClient;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens per request. Default: ${DEFAULT-VALUE}")
    int maxTokens;

    @Option(names = "--prompt", defaultValue = "Tell me a long story about a cat who learns to sail across the sea.",
            description = "The user message.")
    String prompt;

    @Option(names = "--level-timeout", defaultValue = "PT180S",
            description = "No new request after this long in a level (ISO-8601). Default: ${DEFAULT-VALUE}")
    Duration levelTimeout;

    @Option(names = "--threads", defaultValue = "0", description = "Agent compute threads, 0 = all cores. Default: ${DEFAULT-VALUE}")
    int threads;

    @Option(names = "--launcher", defaultValue = "./tandem", description = "The tandem launcher. Default: ${DEFAULT-VALUE}")
    Path launcher;

    @Override
    public Integer call() throws Exception {
        for (int c : concurrency) {
            if (c < 1 || c > 256) {
                throw new IllegalArgumentException("--concurrency: " + c + " (expected: 1..256)");
            }
        }
        GgmlType gt = GgmlType.valueOf(type.toUpperCase(Locale.ROOT));
        Path model = new EngineBench(models, 1, new int[] {1}, 0, 0, 1).model(preset, gt);
        int maxConcurrency = java.util.Arrays.stream(concurrency).max().orElse(1);
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        // room for every running request (prompt under 128 tokens) so that the figures have no preemption in them
        int blocksPerRequest = (128 + maxTokens + 63) / 64 + 1;
        Path log = Files.createTempFile("tandem-bench-agent-", ".log");
        List<String> cmd = List.of(launcher.toString(), "agent", "--model", model.toString(), "--host", "127.0.0.1",
                "--port", Integer.toString(port), "--max-running", Integer.toString(maxConcurrency),
                "--block-size", "64", "--kv-blocks", Integer.toString(maxConcurrency * blocksPerRequest + 8),
                "--threads", Integer.toString(threads), "--shutdown-grace", "5s");
        System.err.println("starting " + String.join(" ", cmd) + " (log " + log + ")");
        Process agent = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Thread reaper = new Thread(agent::destroyForcibly);
        Runtime.getRuntime().addShutdownHook(reaper);
        try {
            awaitHealthy(agent, port, log);
            AgentLoad load = new AgentLoad(port, prompt, maxTokens, Duration.ofMinutes(5));
            // warm-up (not reported): JIT and first use of the batched paths
            load.run(1, 2, Duration.ofSeconds(60));
            load.run(Math.min(8, maxConcurrency), 1, Duration.ofSeconds(60));
            List<AgentLoad.Level> levels = new ArrayList<>();
            for (int c : concurrency) {
                AgentLoad.Level l = load.run(c, requestsPerClient, levelTimeout);
                System.err.printf(Locale.ROOT, "concurrency %d: %d requests in %.1f s%n", c, l.requests(), l.seconds());
                levels.add(l);
            }
            System.out.printf(Locale.ROOT, "model: %s; %d tokens per request; %d requests per client; agent threads: %s; "
                            + "%d cores; %s%n%n", model.getFileName(), maxTokens, requestsPerClient,
                    threads == 0 ? "all" : threads, Runtime.getRuntime().availableProcessors(), Runtime.version());
            System.out.print(AgentLoad.table(levels));
            return levels.stream().anyMatch(l -> l.failed() > 0) ? 1 : 0;
        } finally {
            agent.destroy();
            if (!agent.waitFor(20, TimeUnit.SECONDS)) {
                agent.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            Runtime.getRuntime().removeShutdownHook(reaper);
        }
    }

    /** Waits for /health; the launcher may build the server first, hence the long bound. */
    private static void awaitHealthy(Process agent, int port, Path log) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (System.nanoTime() < deadline) {
            if (!agent.isAlive()) {
                throw new IllegalStateException("agent exited with " + agent.exitValue() + ":\n" + Files.readString(log));
            }
            try {
                if (http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // still starting
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("agent not healthy after 5 minutes; see " + log);
    }
}
