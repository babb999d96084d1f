package io.tandem.proxy.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.sun.net.httpserver.HttpServer;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import reactor.core.publisher.Flux;

/** ForwardClient against a real HTTP server, on a real Netty event loop (standing in for the server's). */
class ForwardClientTest {
    private EventLoopGroup loops;
    private Channel inbound;
    private HttpServer node;
    private String nodeUrl;
    private final Set<Integer> clientPorts = ConcurrentHashMap.newKeySet();
    private final CountDownLatch release = new CountDownLatch(1);

    @BeforeEach
    void start() throws Exception {
        loops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        inbound = new NioSocketChannel();
        loops.register(inbound).sync();
        node = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        node.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        node.createContext("/echo", ex -> {
            clientPorts.add(ex.getRemoteAddress().getPort());
            byte[] in = ex.getRequestBody().readAllBytes();
            String auth = String.valueOf(ex.getRequestHeaders().getFirst("Authorization"));
            byte[] out = (auth + " " + new String(in, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "text/plain");
            ex.sendResponseHeaders(200, out.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(out);
            }
        });
        node.createContext("/stream", ex -> {
            ex.getRequestBody().readAllBytes();
            ex.getResponseHeaders().add("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream o = ex.getResponseBody()) {
                for (int i = 0; i < 3; i++) {
                    o.write(("data: " + i + "\n\n").getBytes(StandardCharsets.UTF_8));
                    o.flush();
                }
            }
        });
        node.createContext("/hang", ex -> {
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ex.sendResponseHeaders(204, -1);
            ex.close();
        });
        node.start();
        nodeUrl = "http://127.0.0.1:" + node.getAddress().getPort();
    }

    @AfterEach
    void stop() throws Exception {
        release.countDown();
        node.stop(0);
        inbound.close().sync();
        loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private ForwardClient client(Duration timeout) {
        return new ForwardClient(Duration.ofSeconds(2), timeout, Optional.of("tok"));
    }

    @Test
    void post_sendsBodyAndBearer_andReusesTheConnection() throws Exception {
        ForwardClient c = client(Duration.ofSeconds(10));
        for (int i = 0; i < 3; i++) {
            Buffered r = c.post(inbound, nodeUrl, "/echo", ("{\"n\":" + i + "}").getBytes(StandardCharsets.UTF_8))
                    .get(10, TimeUnit.SECONDS);
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.contentType()).isEqualTo("text/plain");
            assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo("Bearer tok {\"n\":" + i + "}");
        }
        assertThat(clientPorts).hasSize(1);
    }

    @Test
    void closeIdle_dropsTheNodesPooledConnections() throws Exception {
        ForwardClient c = client(Duration.ofSeconds(10));
        assertThat(c.post(inbound, nodeUrl, "/echo", new byte[0]).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        c.closeIdle(nodeUrl);
        c.closeIdle("not a url"); // ignored
        assertThat(c.post(inbound, nodeUrl, "/echo", new byte[0]).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        assertThat(clientPorts).as("the second call could not reuse the first's connection").hasSize(2);
    }

    @Test
    void postStreaming_firstChunkThenTheRest() throws Exception {
        ForwardClient.Streamed s = client(Duration.ofSeconds(10))
                .postStreaming(inbound, nodeUrl, "/stream", "{}".getBytes(StandardCharsets.UTF_8))
                .get(10, TimeUnit.SECONDS);
        assertThat(s.status()).isEqualTo(200);
        assertThat(s.contentType()).isEqualTo("text/event-stream");
        String all = String.join("", Flux.from(s.body()).map(b -> new String(b, StandardCharsets.UTF_8)).collectList()
                .block(Duration.ofSeconds(10)));
        assertThat(all).isEqualTo("data: 0\n\ndata: 1\n\ndata: 2\n\n");
    }

    @Test
    void noHeadersInTime_failsWithHeadersTimeout() {
        assertThatThrownBy(() -> client(Duration.ofMillis(200))
                .post(inbound, nodeUrl, "/hang", new byte[0]).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(HeadersTimeoutException.class);
    }

    @Test
    void refusedConnection_failsWithConnectException() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        assertThatThrownBy(() -> client(Duration.ofSeconds(10))
                .post(inbound, "http://127.0.0.1:" + closed, "/echo", new byte[0]).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(ConnectException.class);
    }

    @Test
    void cancelledStream_closesTheConnection_nextCallUsesANewOne() throws Exception {
        ForwardClient c = client(Duration.ofSeconds(10));
        ForwardClient.Streamed s = c.postStreaming(inbound, nodeUrl, "/stream", new byte[0]).get(10, TimeUnit.SECONDS);
        Flux<byte[]> body = Flux.from(s.body());
        assertThat(body.take(1).collectList().block(Duration.ofSeconds(10))).hasSize(1);
        Buffered r = c.post(inbound, nodeUrl, "/echo", new byte[0]).get(10, TimeUnit.SECONDS);
        assertThat(r.status()).isEqualTo(200);
    }

    /**
     * A node that closes a kept-alive connection when the next request arrives on it (the race of an idle timeout on
     * the node's side): the request goes once more on a new connection, and the caller sees a normal answer.
     */
    @Test
    void pooledConnectionClosedByTheNode_requestSentAgainOnANewConnection() throws Exception {
        AtomicInteger connections = new AtomicInteger();
        AtomicInteger requests = new AtomicInteger();
        try (ServerSocket server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket s = server.accept();
                        connections.incrementAndGet();
                        Thread.ofVirtual().start(() -> answerOnceThenDrop(s, requests));
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            ForwardClient c = client(Duration.ofSeconds(10));
            String url = "http://127.0.0.1:" + server.getLocalPort();
            for (int i = 0; i < 2; i++) {
                Buffered r = c.post(inbound, url, "/x", "{}".getBytes(StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS);
                assertThat(r.status()).isEqualTo(200);
                assertThat(new String(r.body(), StandardCharsets.UTF_8)).isEqualTo("ok");
            }
            assertThat(connections.get()).as("the second call's pooled connection was dropped").isEqualTo(2);
            assertThat(requests.get()).as("the dropped request, then the one sent again").isEqualTo(3);
        }
    }

    /**
     * Chunks that arrive in one read reach the subscriber as one item (one trip through the reactive pipeline and
     * one flush towards the client), in order and whole.
     */
    @Test
    void postStreaming_chunksOfOneReadArePassedOnAsOneItem() throws Exception {
        CountDownLatch subscribed = new CountDownLatch(1);
        try (ServerSocket server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                try (Socket s = server.accept()) {
                    var in = new java.io.DataInputStream(new java.io.BufferedInputStream(s.getInputStream()));
                    int length = 0;
                    String line;
                    while ((line = readLine(in)) != null && !line.isEmpty()) {
                        if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                            length = Integer.parseInt(line.substring(15).trim());
                        }
                    }
                    in.readFully(new byte[length]);
                    var out = s.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + chunk("data: 0\n\n")).getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    subscribed.await(10, TimeUnit.SECONDS);
                    StringBuilder rest = new StringBuilder();
                    for (int i = 1; i <= 4; i++) {
                        rest.append(chunk("data: " + i + "\n\n"));
                    }
                    out.write((rest + "0\r\n\r\n").getBytes(StandardCharsets.US_ASCII)); // one write, one read
                    out.flush();
                    in.read(); // until the client closes
                } catch (IOException | InterruptedException e) {
                    // the test ended
                }
            });
            ForwardClient.Streamed st = client(Duration.ofSeconds(10))
                    .postStreaming(inbound, "http://127.0.0.1:" + server.getLocalPort(), "/s", new byte[0])
                    .get(10, TimeUnit.SECONDS);
            java.util.List<String> items = new java.util.concurrent.CopyOnWriteArrayList<>();
            CountDownLatch done = new CountDownLatch(1);
            Flux.from(st.body()).map(b -> new String(b, StandardCharsets.UTF_8)).subscribe(items::add, e -> done.countDown(),
                    done::countDown);
            Thread.sleep(200); // the subscriber is attached on the connection's event loop
            subscribed.countDown();
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(String.join("", items)).isEqualTo("data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
            assertThat(items).as("the first chunk, then the four of one read as one item").hasSize(2);
        }
    }

    @Test
    void postStreaming_aSubscriberWithoutDemand_holdsTheNodeBack_thenGetsEveryByte() throws Exception {
        long total = 128L << 20; // beyond what loopback socket buffers hold (tcp_rmem's max is 32 MiB here)
        java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
        try (ServerSocket server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                try (Socket s = server.accept()) {
                    var in = new java.io.DataInputStream(new java.io.BufferedInputStream(s.getInputStream()));
                    String line;
                    while ((line = readLine(in)) != null && !line.isEmpty()) {
                        // the request's head; its body is empty
                    }
                    var out = new java.io.BufferedOutputStream(s.getOutputStream(), 1 << 16);
                    out.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
                    byte[] data = new byte[16 * 1024];
                    byte[] head = (Integer.toHexString(data.length) + "\r\n").getBytes(StandardCharsets.US_ASCII);
                    for (long sent = 0; sent < total; sent += data.length) {
                        out.write(head);
                        out.write(data);
                        out.write('\r');
                        out.write('\n');
                        written.addAndGet(data.length);
                    }
                    out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    in.read(); // until the client closes
                } catch (IOException e) {
                    // the test ended
                }
            });
            ForwardClient.Streamed st = client(Duration.ofSeconds(10))
                    .postStreaming(inbound, "http://127.0.0.1:" + server.getLocalPort(), "/s", new byte[0])
                    .get(10, TimeUnit.SECONDS);
            java.util.concurrent.atomic.AtomicLong received = new java.util.concurrent.atomic.AtomicLong();
            java.util.concurrent.atomic.AtomicReference<org.reactivestreams.Subscription> sub =
                    new java.util.concurrent.atomic.AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            st.body().subscribe(new org.reactivestreams.Subscriber<byte[]>() {
                @Override
                public void onSubscribe(org.reactivestreams.Subscription s) {
                    sub.set(s);
                    s.request(1); // one item, then nothing until the test asks for the rest
                }

                @Override
                public void onNext(byte[] item) {
                    received.addAndGet(item.length);
                }

                @Override
                public void onError(Throwable t) {
                    done.countDown();
                }

                @Override
                public void onComplete() {
                    done.countDown();
                }
            });
            long stalled = -1;
            for (int i = 0; i < 50 && stalled != written.get(); i++) { // until the node's writes stop moving
                stalled = written.get();
                Thread.sleep(100);
            }
            assertThat(written.get()).as("the node is held back once the read-ahead is full").isLessThan(total / 2);
            sub.get().request(Long.MAX_VALUE);
            assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(received.get()).isEqualTo(total);
        }
    }

    private static String chunk(String data) {
        return Integer.toHexString(data.length()) + "\r\n" + data + "\r\n";
    }

    /** Answers the connection's first request (keep-alive), then reads the next one and closes without an answer. */
    private static void answerOnceThenDrop(Socket s, AtomicInteger requests) {
        try (s) {
            var in = new java.io.DataInputStream(new java.io.BufferedInputStream(s.getInputStream()));
            for (int n = 0; ; n++) {
                int length = 0;
                String line;
                while ((line = readLine(in)) != null && !line.isEmpty()) {
                    if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                        length = Integer.parseInt(line.substring(15).trim());
                    }
                }
                if (line == null) {
                    return;
                }
                in.readFully(new byte[length]);
                requests.incrementAndGet();
                if (n > 0) {
                    return; // closes the connection unanswered
                }
                s.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                        .getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    private static String readLine(java.io.DataInputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                int end = sb.length();
                return end > 0 && sb.charAt(end - 1) == '\r' ? sb.substring(0, end - 1) : sb.toString();
            }
            sb.append((char) b);
        }
        return null;
    }
}
