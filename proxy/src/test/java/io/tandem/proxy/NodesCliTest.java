package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code tandem nodes} against a recording stand-in for the proxy's /nodes API on 127.0.0.1. */
class NodesCliTest {
    private HttpServer server;
    private final List<String> calls = new CopyOnWriteArrayList<>();
    private volatile int status = 200;

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/nodes", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            calls.add(ex.getRequestMethod() + " " + ex.getRequestURI().getPath() + " "
                    + ex.getRequestHeaders().getFirst("Authorization") + " " + body);
            byte[] out = "{\"ok\":true}".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(status, out.length);
            ex.getResponseBody().write(out);
            ex.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private int run(String... args) {
        String base = "http://127.0.0.1:" + server.getAddress().getPort();
        String[] all = new String[args.length + 4];
        all[0] = "--proxy";
        all[1] = base;
        all[2] = "--admin-key";
        all[3] = "k1";
        System.arraycopy(args, 0, all, 4, args.length);
        PrintStream out = System.out;
        PrintStream err = System.err;
        try {
            System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            return new CommandLine(new NodesCli()).execute(all);
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void subcommands_callTheProxyApiWithTheAdminKey() {
        assertThat(run("status")).isZero();
        assertThat(run("add", "http://10.0.0.5:23333", "--role", "decode")).isZero();
        assertThat(run("add", "http://10.0.0.6:23333")).isZero();
        assertThat(run("remove", "http://10.0.0.5:23333")).isZero();
        assertThat(run("terminate", "http://10.0.0.6:23333")).isZero();
        assertThat(run("terminate", "--all")).isZero();
        assertThat(calls).containsExactly(
                "GET /nodes/status Bearer k1 ",
                "POST /nodes/add Bearer k1 {\"url\":\"http://10.0.0.5:23333\",\"status\":{\"role\":3}}",
                "POST /nodes/add Bearer k1 {\"url\":\"http://10.0.0.6:23333\"}",
                "POST /nodes/remove Bearer k1 {\"url\":\"http://10.0.0.5:23333\"}",
                "POST /nodes/terminate Bearer k1 {\"url\":\"http://10.0.0.6:23333\"}",
                "GET /nodes/terminate_all Bearer k1 ");
    }

    @Test
    void errors_giveANonZeroExitAndBadInputIsRefusedLocally() {
        status = 403;
        assertThat(run("status")).isEqualTo(1);
        assertThat(run("add", "http://x:1", "--role", "both")).isEqualTo(2);
        assertThat(run("terminate")).isEqualTo(2);
        assertThat(calls).hasSize(1);
    }
}
