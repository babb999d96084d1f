package io.tandem.agent;

import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.server.EmbeddedServer;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.control.ControllerLink;
import io.tandem.agent.lifecycle.AgentEngine;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem agent}: one engine node serving LMDeploy's api_server endpoints.
 *
 * <p>The command line only maps options onto the {@code tandem.agent.*} and {@code micronaut.server.*}
 * properties, so that the same keys work from application.yml and {@code TANDEM_AGENT_*} environment variables;
 * an option given on the command line wins. Shutdown (SIGTERM, Ctrl-C, /terminate) runs our own hook instead of
 * Micronaut's: first the engine drains (new requests answer 503, running ones get the grace period), then the
 * HTTP server stops, so streams in flight can end normally.
 */
@Command(name = "agent", mixinStandardHelpOptions = true,
        description = "Serve a GGUF model over LMDeploy's api_server HTTP API (OpenAI-compatible).")
public final class AgentMain implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "GGUF file. Default: the generated small Q8_0 model.")
    Path model;
    @Option(names = "--role", description = "hybrid, prefill or decode (DistServe). Default: hybrid")
    String role;
    @Option(names = "--cluster-token", description = "Secret for /distserve/* and migration requests "
            + "(Bearer or X-Tandem-Cluster-Token). Without it they are accepted from loopback callers only.")
    String clusterToken;
    @Option(names = "--engine-id", description = "This engine's DistServe id (the URL the proxy uses). "
            + "Default: http://HOST:PORT")
    String engineId;
    @Option(names = "--cache-lease", description = "How long prefill KV blocks wait for the decode side. Default: 60s")
    String cacheLease;
    @Option(names = "--migration-timeout", description = "Longest KV pull on the decode side. Default: 10s")
    String migrationTimeout;
    @Option(names = "--kv-lanes", description = "UCX workers a KV pull is spread over, 1-16. Default: 2 "
            + "(1 on one core)")
    Integer kvLanes;
    @Option(names = "--controller", description = "HOST:PORT of the controller (the proxy's --grpc-port) to attach "
            + "to: register, report load every second, take commands. Default: do not attach")
    String controller;
    @Option(names = "--advertise-url", description = "This agent's URL as the proxy reaches it, sent when attaching. "
            + "Default: the engine id (http://HOST:PORT)")
    String advertiseUrl;
    @Option(names = "--port", description = "HTTP port. Default: 23333")
    Integer port;
    @Option(names = "--host", description = "Address to bind. Default: 0.0.0.0")
    String host;
    @Option(names = "--model-name", description = "Name served in /v1/models. Default: the GGUF's general.name")
    String modelName;
    @Option(names = "--api-keys", split = ",", description = "Accepted bearer keys, comma-separated.")
    List<String> apiKeys;
    @Option(names = "--admin-key", description = "Bearer key for /sleep, /wakeup, /update_weights, /terminate.")
    String adminKey;
    @Option(names = "--kv-blocks", description = "KV cache blocks.")
    Integer kvBlocks;
    @Option(names = "--kv-memory", description = "KV cache size (512MiB, 2GiB) when --kv-blocks is not given.")
    String kvMemory;
    @Option(names = "--block-size", description = "Tokens per KV block. Default: 64")
    Integer blockSize;
    @Option(names = "--max-running", description = "Sequences decoded together. Default: 64")
    Integer maxRunning;
    @Option(names = "--max-waiting", description = "Queued requests before 429. Default: 1024")
    Integer maxWaiting;
    @Option(names = "--threads", description = "Compute threads, 0 = all cores. Default: 0")
    Integer threads;
    @Option(names = "--shutdown-grace", description = "How long running requests may finish on SIGTERM. Default: 30s")
    String shutdownGrace;
    @Option(names = "--max-request-size", description = "Largest request body, bytes or 10MB. Default: 100MB")
    String maxRequestSize;

    public static void main(String[] args) {
        int rc = new CommandLine(new AgentMain()).execute(args);
        if (rc != 0) {
            System.exit(rc);
        }
        // On success the server's non-daemon threads keep the process alive until shutdown.
    }

    /** Command-line options as configuration properties; absent options leave the key to yml/env defaults. */
    Map<String, Object> properties() {
        Map<String, Object> p = new LinkedHashMap<>();
        put(p, "tandem.agent.model", model == null ? null : model.toString());
        put(p, "tandem.agent.role", role);
        put(p, "tandem.agent.cluster-token", clusterToken);
        put(p, "tandem.agent.engine-id", engineId);
        put(p, "tandem.agent.cache-lease", cacheLease);
        put(p, "tandem.agent.migration-timeout", migrationTimeout);
        put(p, "tandem.agent.kv-lanes", kvLanes);
        put(p, "tandem.agent.controller", controller);
        put(p, "tandem.agent.advertise-url", advertiseUrl);
        put(p, "micronaut.server.port", port);
        put(p, "micronaut.server.host", host);
        put(p, "tandem.agent.model-name", modelName);
        put(p, "tandem.agent.api-keys", apiKeys == null ? null : String.join(",", apiKeys));
        put(p, "tandem.agent.admin-key", adminKey);
        put(p, "tandem.agent.kv-blocks", kvBlocks);
        put(p, "tandem.agent.kv-memory", kvMemory);
        put(p, "tandem.agent.block-size", blockSize);
        put(p, "tandem.agent.max-running", maxRunning);
        put(p, "tandem.agent.max-waiting", maxWaiting);
        put(p, "tandem.agent.threads", threads);
        put(p, "tandem.agent.shutdown-grace", shutdownGrace);
        put(p, "micronaut.server.max-request-size", maxRequestSize);
        put(p, "micronaut.server.max-request-buffer-size", maxRequestSize);
        return p;
    }

    private static void put(Map<String, Object> p, String key, Object value) {
        if (value != null) {
            p.put(key, value);
        }
    }

    @Override
    public Integer call() {
        // Not Micronaut.run: its shutdown hook stops the server concurrently with ours (and deadlocks with a
        // context stop); we start the server ourselves and own the one hook.
        ApplicationContext ctx = ApplicationContext.builder()
                .mainClass(AgentMain.class)
                .properties(properties())
                .environmentPropertySource(true)
                .start();
        EmbeddedServer server = ctx.getBean(EmbeddedServer.class);
        try {
            server.start();
        } catch (RuntimeException e) {
            ctx.close();
            throw e;
        }
        AgentEngine agent = ctx.getBean(AgentEngine.class);
        AgentConfig config = ctx.getBean(AgentConfig.class);
        ControllerLink link = config.attaches() ? ctx.getBean(ControllerLink.class) : null;
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("tandem-agent-shutdown").unstarted(() -> {
            System.err.println("tandem agent: shutting down (grace " + config.shutdownGrace().toSeconds() + " s)");
            if (link != null) {
                link.close(); // first: the controller takes the node out of rotation before the drain refuses work
            }
            agent.drainAndClose(config.shutdownGrace());
            if (ctx.isRunning()) {
                ctx.stop();
            }
        }));
        if (link != null) {
            link.start();
        }
        System.err.println("tandem agent: listening on " + ctx.getProperty("micronaut.server.host", String.class)
                .orElse("0.0.0.0") + ":" + server.getPort());
        return 0;
    }
}
