package io.tandem.proxy.upstream;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * The proxy's calls to nodes that are not part of a client's request (node management: {@code /terminate}, a new
 * node's {@code /v1/models}), on the JDK {@link HttpClient}: rare calls, made from any thread. Generation requests
 * go through {@link ForwardClient} on the server's event loops instead. Thread-safe.
 */
public final class UpstreamClient implements AutoCloseable {
    private final HttpClient http;
    private final Duration timeout;

    /**
     * @param connectTimeout TCP connect timeout
     * @param timeout        longest wait for response headers
     */
    public UpstreamClient(Duration connectTimeout, Duration timeout) {
        // A direct executor: the client's selector thread completes the futures and runs the callers' stages (all
        // short and non-blocking) instead of handing each answer to a pool thread first.
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER).executor(Runnable::run).build();
        this.timeout = timeout;
    }

    /** GET and read the whole answer. */
    public CompletableFuture<Buffered> get(String url, Optional<String> auth) {
        return http.sendAsync(request(url, auth).GET().build(), HttpResponse.BodyHandlers.ofByteArray())
                .thenApply(r -> new Buffered(r.statusCode(), contentType(r), r.body()));
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
