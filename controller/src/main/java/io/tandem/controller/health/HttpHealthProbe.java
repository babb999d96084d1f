package io.tandem.controller.health;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * {@code GET {url}/health} with a short timeout, over the JDK's asynchronous {@link HttpClient}. 2xx is healthy;
 * anything else, a refused connection or the timeout is not. A healthy answer's {@value #WEIGHTS_HEADER} header (our
 * agents send it) names the weights the node serves.
 *
 * <p>Thread-safe.
 */
public final class HttpHealthProbe implements HealthProbe {
    /** The agents' header naming the weights they serve. */
    public static final String WEIGHTS_HEADER = "X-Tandem-Weights-Version";
    /** Longer header values are ignored (a version is 16 hex digits or "base"). */
    static final int MAX_VERSION_LENGTH = 128;
    private final HttpClient client;
    private final Duration timeout;

    public HttpHealthProbe(HttpClient client, Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout: " + timeout + " (expected: > 0)");
        }
        this.client = client;
        this.timeout = timeout;
    }

    @Override
    public CompletableFuture<ProbeResult> probe(String nodeUrl) {
        HttpRequest request;
        try {
            request = HttpRequest.newBuilder(URI.create(nodeUrl + "/health")).timeout(timeout).GET().build();
        } catch (IllegalArgumentException e) {
            return CompletableFuture.completedFuture(ProbeResult.failed("bad url: " + e.getMessage()));
        }
        return client.sendAsync(request, HttpResponse.BodyHandlers.discarding())
                .orTimeout(timeout.toMillis() + 50, java.util.concurrent.TimeUnit.MILLISECONDS)
                .handle((response, error) -> {
                    if (error != null) {
                        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                                ? error.getCause() : error;
                        if (cause instanceof HttpTimeoutException || cause instanceof java.util.concurrent.TimeoutException) {
                            return ProbeResult.timedOut("health check timed out after " + timeout.toMillis() + " ms");
                        }
                        return ProbeResult.failed("health check failed: " + cause);
                    }
                    int status = response.statusCode();
                    return status / 100 == 2 ? ProbeResult.ok(response.headers().firstValue(WEIGHTS_HEADER)
                            .map(String::strip).filter(v -> !v.isEmpty() && v.length() <= MAX_VERSION_LENGTH))
                            : ProbeResult.failed("GET /health answered " + status);
                });
    }
}
