package io.tandem.proxy.upstream;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * HTTP calls from the proxy to nodes, all asynchronous: the JDK {@link HttpClient} (HTTP/1.1, pooled keep-alive
 * connections) completes its futures on its own executor, never on a Netty event loop, and a streamed body is a
 * {@link Flow.Publisher} read with backpressure. Thread-safe.
 */
public final class UpstreamClient implements AutoCloseable {
    private final HttpClient http;
    private final Duration timeout;
    private final Optional<String> bearer;

    /**
     * @param connectTimeout TCP connect timeout
     * @param timeout        longest wait for response headers
     * @param bearer         sent as {@code Authorization: Bearer} on every call (the cluster token), if present
     */
    public UpstreamClient(Duration connectTimeout, Duration timeout, Optional<String> bearer) {
        // A direct executor: the client's selector thread completes the futures and runs the router's stages (all
        // short and non-blocking, ending in a Netty write that the event loop picks up), instead of handing each
        // response to a pool thread first. On a small machine every hand-off per request showed in the p99.
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER).executor(Runnable::run).build();
        this.timeout = timeout;
        this.bearer = bearer;
    }

    /** A whole answer. */
    public record Buffered(int status, String contentType, byte[] body) {}

    /** Status and headers arrived; the body follows on {@code body}, which must be subscribed or cancelled. */
    public record Streamed(int status, String contentType, Flow.Publisher<List<ByteBuffer>> body) {}

    /** POST a JSON body and read the whole answer. */
    public CompletableFuture<Buffered> post(String url, byte[] json) {
        return post(url, json, bearer);
    }

    public CompletableFuture<Buffered> post(String url, byte[] json, Optional<String> auth) {
        return http.sendAsync(request(url, auth).POST(HttpRequest.BodyPublishers.ofByteArray(json)).build(),
                        HttpResponse.BodyHandlers.ofByteArray())
                .thenApply(r -> new Buffered(r.statusCode(), contentType(r), r.body()));
    }

    /** GET and read the whole answer. */
    public CompletableFuture<Buffered> get(String url, Optional<String> auth) {
        return http.sendAsync(request(url, auth).GET().build(), HttpResponse.BodyHandlers.ofByteArray())
                .thenApply(r -> new Buffered(r.statusCode(), contentType(r), r.body()));
    }

    /** POST a JSON body; completes when the headers arrived, with the body as a publisher. */
    public CompletableFuture<Streamed> postStreaming(String url, byte[] json) {
        return http.sendAsync(request(url, bearer).POST(HttpRequest.BodyPublishers.ofByteArray(json)).build(),
                        HttpResponse.BodyHandlers.ofPublisher())
                .thenApply(r -> new Streamed(r.statusCode(), contentType(r), r.body()));
    }

    private HttpRequest.Builder request(String url, Optional<String> auth) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(timeout)
                .header("Content-Type", "application/json");
        auth.ifPresent(t -> b.header("Authorization", "Bearer " + t));
        return b;
    }

    private static String contentType(HttpResponse<?> r) {
        return r.headers().firstValue("content-type").orElse("application/json");
    }

    @Override
    public void close() {
        http.close();
    }
}
