package io.tandem.proxy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tandem nodes}: the operator's client for a running proxy's node pool ({@code /nodes/*}). It prints the
 * proxy's JSON answer as is and exits non-zero on an HTTP error, so it composes with {@code jq} and scripts.
 */
@Command(name = "nodes", mixinStandardHelpOptions = true,
        description = "Inspect and change a running proxy's node pool.",
        subcommands = {NodesCli.Status.class, NodesCli.Add.class, NodesCli.Remove.class, NodesCli.Terminate.class})
public final class NodesCli implements Runnable {
    @Option(names = "--proxy", defaultValue = "${env:TANDEM_PROXY_URL:-http://127.0.0.1:8000}",
            description = "Proxy base URL. Default: $TANDEM_PROXY_URL or ${DEFAULT-VALUE}", scope = CommandLine.ScopeType.INHERIT)
    String proxy;

    @Option(names = "--admin-key", defaultValue = "${env:TANDEM_ADMIN_KEY}",
            description = "The proxy's admin key. Default: $TANDEM_ADMIN_KEY", scope = CommandLine.ScopeType.INHERIT)
    String adminKey;

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    int call(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(proxy.replaceAll("/+$", "") + path))
                .timeout(Duration.ofSeconds(30));
        if (adminKey != null && !adminKey.isBlank()) {
            b.header("Authorization", "Bearer " + adminKey);
        }
        b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
                : b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r;
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.net.ConnectException e) {
            System.err.println("tandem nodes: no proxy at " + proxy + " (" + e.getMessage() + ")");
            return 3;
        }
        (r.statusCode() < 300 ? System.out : System.err).println(r.body());
        return r.statusCode() < 300 ? 0 : 1;
    }

    static String urlBody(String url) {
        return "{\"url\":\"" + url.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}";
    }

    @Command(name = "status", description = "Every node with role, models, health, load and KV usage.")
    static final class Status implements Callable<Integer> {
        @CommandLine.ParentCommand
        NodesCli parent;

        @Override
        public Integer call() throws Exception {
            return parent.call("GET", "/nodes/status", null);
        }
    }

    @Command(name = "add", description = "Add a node (an agent, an LMDeploy api_server or any OpenAI-compatible server).")
    static final class Add implements Callable<Integer> {
        @CommandLine.ParentCommand
        NodesCli parent;

        @Parameters(index = "0", description = "Node URL, e.g. http://10.0.0.5:23333")
        String url;

        @Option(names = "--role", description = "hybrid, prefill or decode. Default: asked from the node (hybrid)")
        String role;

        @Override
        public Integer call() throws Exception {
            if (role == null) {
                return parent.call("POST", "/nodes/add", urlBody(url));
            }
            int wire = switch (role.toLowerCase(java.util.Locale.ROOT)) {
                case "hybrid" -> 1;
                case "prefill" -> 2;
                case "decode" -> 3;
                default -> throw new CommandLine.ParameterException(new CommandLine(this),
                        "--role: '" + role + "' (expected: hybrid, prefill or decode)");
            };
            String body = urlBody(url);
            return parent.call("POST", "/nodes/add",
                    body.substring(0, body.length() - 1) + ",\"status\":{\"role\":" + wire + "}}");
        }
    }

    @Command(name = "remove", description = "Take a node out of the pool (the node keeps running).")
    static final class Remove implements Callable<Integer> {
        @CommandLine.ParentCommand
        NodesCli parent;

        @Parameters(index = "0", description = "Node URL")
        String url;

        @Override
        public Integer call() throws Exception {
            return parent.call("POST", "/nodes/remove", urlBody(url));
        }
    }

    @Command(name = "terminate", description = "Stop a node's process and remove it; --all stops every node.")
    static final class Terminate implements Callable<Integer> {
        @CommandLine.ParentCommand
        NodesCli parent;

        @Parameters(index = "0", arity = "0..1", description = "Node URL")
        String url;

        @Option(names = "--all", description = "Terminate every node.")
        boolean all;

        @Override
        public Integer call() throws Exception {
            if (all) {
                return parent.call("GET", "/nodes/terminate_all", null);
            }
            if (url == null) {
                throw new CommandLine.ParameterException(new CommandLine(this), "a node URL or --all is required");
            }
            return parent.call("POST", "/nodes/terminate", urlBody(url));
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new NodesCli()).execute(args));
    }
}
