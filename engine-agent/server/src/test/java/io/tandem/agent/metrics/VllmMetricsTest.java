package io.tandem.agent.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.scheduler.EngineStats;
import org.junit.jupiter.api.Test;

class VllmMetricsTest {
    private static final EngineStats STATS = new EngineStats(2, 1, 64, 10, 0, 100, 50, 3, 40, 7);

    @Test
    void scrape_isValidExposition_withEveryHistogramComplete() {
        VllmMetrics m = new VllmMetrics(null);
        m.recordInterTokenLatency(0.02);
        m.recordInterTokenLatency(3.0);
        m.recordFinished("stop", 10, 5, 2_000_000, 90_000_000);
        m.recordFinished("length", 4, 1, 500_000_000L, 600_000_000L);

        PrometheusText p = PrometheusText.parse(m.scrape(STATS, "my \"model\"\nname"));

        for (String h : new String[] {"vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                "vllm:time_per_output_token_seconds", "vllm:e2e_request_latency_seconds"}) {
            assertThat(p.type(h)).isEqualTo("histogram");
        }
        assertThat(p.type("vllm:num_requests_running")).isEqualTo("gauge");
        assertThat(p.type("vllm:prompt_tokens_total")).isEqualTo("counter");
        assertThat(p.value("vllm:num_requests_running", "model_name", "my \"model\"\nname")).isEqualTo(2);
        assertThat(p.value("tandem:kv_blocks_used")).isEqualTo(10);
        assertThat(p.value("vllm:kv_cache_usage_perc")).isEqualTo(10 / 64.0);
        assertThat(p.value("vllm:time_to_first_token_seconds_count")).isEqualTo(2);
        assertThat(p.value("vllm:time_to_first_token_seconds_bucket", "le", "0.005")).isEqualTo(1);
        assertThat(p.value("vllm:time_to_first_token_seconds_bucket", "le", "0.5")).isEqualTo(2);
        assertThat(p.value("vllm:time_to_first_token_seconds_sum")).isCloseTo(0.502, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(p.value("vllm:inter_token_latency_seconds_bucket", "le", "2.5")).isEqualTo(1);
        assertThat(p.value("vllm:inter_token_latency_seconds_count")).isEqualTo(2);
        // only the request with more than one token has a time per output token
        assertThat(p.value("vllm:time_per_output_token_seconds_count")).isEqualTo(1);
        assertThat(p.value("vllm:prompt_tokens_total")).isEqualTo(14);
    }

    @Test
    void abortedRequests_countAsAborts_butNotInLatencyHistograms() {
        VllmMetrics m = new VllmMetrics(null);
        m.recordFinished("stop", 3, 4, 1_000_000, 10_000_000);
        m.recordFinished("abort", 3, 2, 1_000_000, 50_000_000_000L);
        m.recordFinished("abort", 3, 0, -1, 1_000_000);

        PrometheusText p = PrometheusText.parse(m.scrape(STATS, "m"));

        assertThat(p.value("vllm:request_success_total", "finished_reason", "abort")).isEqualTo(2);
        assertThat(p.value("vllm:request_success_total", "finished_reason", "stop")).isEqualTo(1);
        assertThat(p.value("vllm:time_to_first_token_seconds_count")).isEqualTo(1);
        assertThat(p.value("vllm:time_per_output_token_seconds_count")).isEqualTo(1);
        assertThat(p.value("vllm:e2e_request_latency_seconds_count")).isEqualTo(1);
        assertThat(p.value("vllm:e2e_request_latency_seconds_bucket", "le", "0.3")).isEqualTo(1);
        assertThat(p.value("vllm:generation_tokens_total")).isEqualTo(6); // tokens still count
    }

    @Test
    void parser_refusesWhatPrometheusWould() {
        assertThatThrownBy(() -> PrometheusText.parse("# TYPE a histogram\na_bucket{le=\"1.0\"} 1\na_sum 1\na_count 1\n"))
                .hasMessageContaining("+Inf");
        assertThatThrownBy(() -> PrometheusText.parse("# TYPE a histogram\na_bucket{le=\"+Inf\"} 2\na_sum 1\na_count 1\n"))
                .hasMessageContaining("_count");
        assertThatThrownBy(() -> PrometheusText.parse("# TYPE a counter\na 1\n# TYPE a counter\n"))
                .hasMessageContaining("second TYPE");
        assertThatThrownBy(() -> PrometheusText.parse("a{b=\"x} 1\n")).hasMessageContaining("label");
        assertThatThrownBy(() -> PrometheusText.parse("a 1.0f\n")).hasMessageContaining("bad value");
        assertThatThrownBy(() -> PrometheusText.parse("a 1\nb 1\na 2\n")).hasMessageContaining("not together");
    }
}
