package io.tandem.controller.admin;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

import io.tandem.controller.internal.HttpFailures;

/**
 * {@link NodeAdminClient} over the JDK's asynchronous {@link HttpClient}. Sends {@code Authorization: Bearer KEY}
 * with the node admin key (the agents' {@code --admin-key}) when one is set. Thread-safe.
 */
public final class HttpNodeAdminClient implements NodeAdminClient {
    private final HttpClient http;
    private final Duration timeout;
    private final Optional<String> adminKey;

    /** {@code timeout}: the longest wait for an answer (a weight commit of a large model takes a while). */
    public HttpNodeAdminClient(HttpClient http, Duration timeout, Optional<String> adminKey) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: " + timeout + " (expected: > 0)");
        }
        this.http = http;
        this.timeout = timeout;
        this.adminKey = adminKey.filter(k -> !k.isBlank());
    }

    @Override
    public CompletableFuture<NodeAnswer> post(String nodeUrl, String pathAndQuery, byte[] body) {
        return send(request(nodeUrl, pathAndQuery).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), "POST " + nodeUrl + pathAndQuery);
    }

    @Override
    public CompletableFuture<NodeAnswer> get(String nodeUrl, String pathAndQuery) {
        return send(request(nodeUrl, pathAndQuery).GET().build(), "GET " + nodeUrl + pathAndQuery);
    }

    private HttpRequest.Builder request(String nodeUrl, String pathAndQuery) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(nodeUrl + pathAndQuery)).timeout(timeout);
        adminKey.ifPresent(k -> b.header("Authorization", "Bearer " + k));
        return b;
    }

    private CompletableFuture<NodeAnswer> send(HttpRequest request, String what) {
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofString()).handle((r, error) -> {
            if (error != null) {
                throw HttpFailures.noAnswer(what, error, timeout);
            }
            return new NodeAnswer(r.statusCode(), r.body() == null ? "" : r.body());
        });
    }
}
