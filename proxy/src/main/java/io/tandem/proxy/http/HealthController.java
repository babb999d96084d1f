package io.tandem.proxy.http;

import java.time.Instant;
import java.util.Map;

import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.tandem.proxy.metrics.ProxyMetrics;

/** {@code GET /health} (the proxy is up; with node counts) and {@code GET /metrics} (Prometheus). Open routes. */
@Controller
public class HealthController {
    private final io.tandem.controller.Controller controller;
    private final ProxyMetrics metrics;

    public HealthController(io.tandem.controller.Controller controller, ProxyMetrics metrics) {
        this.controller = controller;
        this.metrics = metrics;
    }

    @Get("/health")
    public Map<String, Object> health() {
        Instant now = Instant.now();
        var nodes = controller.nodes();
        return Map.of("status", "ok", "nodes", nodes.size(),
                "routable_nodes", nodes.stream().filter(n -> n.isRoutable(now)).count());
    }

    @Get("/metrics")
    public HttpResponse<String> metrics() {
        return HttpResponse.ok(metrics.scrape()).contentType(MediaType.of("text/plain; version=0.0.4; charset=utf-8"));
    }
}
