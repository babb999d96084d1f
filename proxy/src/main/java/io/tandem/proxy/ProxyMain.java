package io.tandem.proxy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.micronaut.context.ApplicationContext;
import io.micronaut.runtime.server.EmbeddedServer;
import io.tandem.controller.Controller;
import io.tandem.proxy.config.ProxyConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem proxy}: the cluster's front door. The command line only maps options onto {@code tandem.proxy.*}
 * and {@code micronaut.server.*} properties, so the same keys work from application.yml and
 * {@code TANDEM_PROXY_*} environment variables; an option given on the command line wins.
 */
@Command(name = "proxy", mixinStandardHelpOptions = true,
        description = "Route OpenAI-compatible requests to a pool of nodes (hybrid or prefill/decode).")
public final class ProxyMain implements Callable<Integer> {
    @Option(names = "--port", description = "HTTP port. Default: 8000")
    Integer port;
    @Option(names = "--host", description = "Address to bind. Default: 0.0.0.0")
    String host;
    @Option(names = "--mode", description = "hybrid or distserve. Default: hybrid")
    String mode;
    @Option(names = "--strategy", description = "random, min_expected_latency, min_observed_latency, least_loaded, "
            + "power_of_two, prefix_aware. Default: min_expected_latency")
    String strategy;
    @Option(names = "--prefill-strategy", description = "Strategy for prefill nodes. Default: --strategy")
    String prefillStrategy;
    @Option(names = "--decode-strategy", description = "Strategy for decode nodes. Default: --strategy")
    String decodeStrategy;
    @Option(names = "--admin-key", description = "Bearer key for /nodes/*, /distserve/* and management routes.")
    String adminKey;
    @Option(names = "--api-keys", split = ",", description = "Bearer keys accepted on generation routes.")
    List<String> apiKeys;
    @Option(names = "--cluster-token", description = "Token agents attach with; sent to agents on /distserve calls.")
    String clusterToken;
    @Option(names = "--node-admin-key", description = "Bearer sent to nodes on /terminate, /update_weights, /sleep, "
            + "/wakeup (the agents' --admin-key). Default: the cluster token")
    String nodeAdminKey;
    @Option(names = "--state-file", description = "Keep the node list here across restarts.")
    String stateFile;
    @Option(names = "--grpc-port", description = "ClusterControl port for agents (0 = any). Default: not served")
    Integer grpcPort;
    @Option(names = "--max-attempts", description = "Nodes one request may try before its first byte. Default: 3")
    Integer maxAttempts;
    @Option(names = "--upstream-timeout", description = "Longest wait for a node's response headers. Default: 300s")
    String upstreamTimeout;
    @Option(names = "--quota-rps", description = "Per-client requests per second (X-Client-Name or IP). Default: off")
    Double quotaRps;
    @Option(names = "--quota-burst", description = "Per-client burst. Default: one second's worth")
    Integer quotaBurst;
    @Option(names = "--allowed-ips", split = ",", description = "Client addresses or CIDR blocks allowed.")
    List<String> allowedIps;
    @Option(names = "--migration-protocol", description = "rdma, tcp or nvlink. Default: rdma")
    String migrationProtocol;
    @Option(names = "--consul", description = "Consul agent URL to watch for agents, e.g. http://127.0.0.1:8500. "
            + "Default: no Consul")
    String consulUrl;
    @Option(names = "--event-loop-threads", description = "Netty event loops serving connections. Default: one per "
            + "core")
    Integer eventLoopThreads;
    @Option(names = "--consul-service", description = "Consul service name of the agents. Default: tandem-agent")
    String consulService;

    public static void main(String[] args) {
        int rc = new CommandLine(new ProxyMain()).execute(args);
        if (rc != 0) {
            System.exit(rc);
        }
    }

    Map<String, Object> properties() {
        Map<String, Object> p = new LinkedHashMap<>();
        put(p, "micronaut.server.port", port);
        put(p, "micronaut.server.host", host);
        put(p, "tandem.proxy.mode", mode);
        put(p, "tandem.proxy.strategy", strategy);
        put(p, "tandem.proxy.prefill-strategy", prefillStrategy);
        put(p, "tandem.proxy.decode-strategy", decodeStrategy);
        put(p, "tandem.proxy.admin-key", adminKey);
        put(p, "tandem.proxy.api-keys", apiKeys == null ? null : String.join(",", apiKeys));
        put(p, "tandem.proxy.cluster-token", clusterToken);
        put(p, "tandem.proxy.node-admin-key", nodeAdminKey);
        put(p, "tandem.proxy.state-file", stateFile);
        put(p, "tandem.proxy.grpc-port", grpcPort);
        put(p, "tandem.proxy.max-attempts", maxAttempts);
        put(p, "tandem.proxy.upstream-timeout", upstreamTimeout);
        put(p, "tandem.proxy.quota-requests-per-second", quotaRps);
        put(p, "tandem.proxy.quota-burst", quotaBurst);
        put(p, "tandem.proxy.allowed-ips", allowedIps == null ? null : String.join(",", allowedIps));
        put(p, "tandem.proxy.migration-protocol", migrationProtocol);
        put(p, "tandem.proxy.consul-url", consulUrl);
        put(p, "tandem.proxy.consul-service", consulService);
        put(p, EVENT_LOOP_THREADS, eventLoopThreads != null ? eventLoopThreads
                : defaultEventLoopThreads(System.getenv(), System.getProperties()));
        return p;
    }

    /** Micronaut's key for the number of Netty event loops serving connections (and ForwardClient's calls). */
    static final String EVENT_LOOP_THREADS = "micronaut.netty.event-loops.default.num-threads";

    /**
     * One event loop per core, as nginx's {@code worker_processes auto} and Envoy's {@code --concurrency}, instead of
     * Netty's 2 x cores: more loops than cores only add context switches to a proxy that never blocks. Measured on
     * the 2-core machine, two loops against four: added p99 lower in 6 of 8 cells over two idle runs
     * (docs/benchmarks.md, "Proxy"). Null (Micronaut's own default) when the key is set in the environment or as a
     * system property, so those still decide.
     */
    static Integer defaultEventLoopThreads(Map<String, String> env, java.util.Properties system) {
        if (env.containsKey("MICRONAUT_NETTY_EVENT_LOOPS_DEFAULT_NUM_THREADS")
                || system.containsKey(EVENT_LOOP_THREADS)) {
            return null;
        }
        return Runtime.getRuntime().availableProcessors();
    }

    private static void put(Map<String, Object> p, String key, Object value) {
        if (value != null) {
            p.put(key, value);
        }
    }

    @Override
    public Integer call() {
        ApplicationContext ctx = ApplicationContext.builder()
                .mainClass(ProxyMain.class)
                .properties(properties())
                .environmentPropertySource(true)
                .start();
        EmbeddedServer server;
        try {
            ProxyConfig config = ctx.getBean(ProxyConfig.class);
            Controller controller = ctx.getBean(Controller.class);
            server = ctx.getBean(EmbeddedServer.class);
            server.start();
            System.err.println("tandem proxy: listening on " + ctx.getProperty("micronaut.server.host", String.class)
                    .orElse("0.0.0.0") + ":" + server.getPort() + " (mode " + config.mode() + ", "
                    + controller.nodes().size() + " nodes"
                    + controller.grpcPort().map(p -> ", ClusterControl on " + p).orElse("") + ")");
        } catch (RuntimeException e) {
            ctx.close();
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("tandem-proxy-shutdown").unstarted(() -> {
            if (ctx.isRunning()) {
                ctx.stop();
            }
        }));
        return 0;
    }
}
