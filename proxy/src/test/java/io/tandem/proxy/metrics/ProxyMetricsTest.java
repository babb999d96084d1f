package io.tandem.proxy.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;

import org.junit.jupiter.api.Test;

import io.tandem.controller.Controller;

class ProxyMetricsTest {
    @Test
    void perRequestSeries_areWrittenWithTheirLabelsSortedAndEscaped() {
        try (Controller controller = Controller.builder().build()) {
            ProxyMetrics m = new ProxyMetrics(controller);
            m.request("/v1/completions");
            m.request("/v1/chat/completions");
            m.request("/v1/chat/completions");
            m.error("/v1/chat/completions", 503);
            m.retry("/v1/chat/completions");
            m.requestLatency("/v1/chat/completions", Duration.ofMillis(3));
            m.timeToFirstToken("/v1/chat/completions", Duration.ofMillis(1));
            m.nodeDone("http://a:1", "hybrid", Duration.ofMillis(2));
            m.nodeDone("http://a:1", "hybrid", Duration.ofMillis(20));
            m.nodeFailed("http://a:1", "hybrid");
            m.nodeFailed("http://\"b\":2", "prefill");

            String text = m.scrape();

            assertThat(text).contains(
                    "tandem_proxy_requests_total{route=\"/v1/chat/completions\"} 2\n"
                            + "tandem_proxy_requests_total{route=\"/v1/completions\"} 1\n",
                    "tandem_proxy_errors_total{route=\"/v1/chat/completions\",status=\"503\"} 1\n",
                    "tandem_proxy_retries_total{route=\"/v1/chat/completions\"} 1\n",
                    "tandem_proxy_node_requests_total{node=\"http://\\\"b\\\":2\",stage=\"prefill\"} 1\n"
                            + "tandem_proxy_node_requests_total{node=\"http://a:1\",stage=\"hybrid\"} 3\n",
                    "tandem_proxy_node_failures_total{node=\"http://a:1\",stage=\"hybrid\"} 1\n",
                    "tandem_proxy_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"0.005\"} 1\n",
                    "tandem_proxy_time_to_first_token_seconds_count{route=\"/v1/chat/completions\"} 1\n",
                    "tandem_proxy_node_request_duration_seconds_bucket{node=\"http://a:1\",stage=\"hybrid\",le=\"0.005\"} 1\n",
                    "tandem_proxy_node_request_duration_seconds_count{node=\"http://a:1\",stage=\"hybrid\"} 2\n");
        }
    }
}
