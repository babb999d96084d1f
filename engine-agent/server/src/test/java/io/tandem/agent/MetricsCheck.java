package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.tandem.agent.metrics.PrometheusText;
import java.net.http.HttpResponse;
import java.time.Duration;

/** What the integration tests check on /metrics after their requests. */
final class MetricsCheck {
    private MetricsCheck() {
    }

    /** A scrape, parsed strictly: a malformed exposition fails the test here. */
    static PrometheusText scrape(AgentProcess agent) throws Exception {
        HttpResponse<String> r = agent.get("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
        return PrometheusText.parse(r.body());
    }

    /** Waits (bounded) until nothing runs, waits or holds a KV block; returns that scrape. */
    static PrometheusText awaitIdle(AgentProcess agent) {
        PrometheusText[] last = new PrometheusText[1];
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).until(() -> {
            PrometheusText p = scrape(agent);
            last[0] = p;
            return p.value("vllm:num_requests_running") == 0 && p.value("vllm:num_requests_waiting") == 0
                    && p.value("tandem:kv_blocks_used") == 0;
        });
        return last[0];
    }
}
