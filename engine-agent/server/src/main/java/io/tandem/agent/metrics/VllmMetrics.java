package io.tandem.agent.metrics;

import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.engine.scheduler.EngineStats;
import jakarta.inject.Singleton;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

/**
 * The Prometheus series vLLM users already graph, under vLLM's names ({@code vllm:num_requests_running},
 * {@code vllm:kv_cache_usage_perc}, {@code vllm:time_to_first_token_seconds}, ...), labelled
 * {@code model_name}. Written by hand in the text exposition format rather than through Micrometer, because
 * Micrometer's naming convention rewrites the colon and the suffixes that dashboards key on.
 *
 * <p>Latency histograms (time to first token, time per output token, end-to-end) count only requests that
 * finished on their own (stop or length): an aborted request's latency is the client's or the operator's choice,
 * not the server's speed, and would skew the quantiles; aborts still count in
 * {@code vllm:request_success_total{finished_reason="abort"}} and in the token counters. Inter-token latency is
 * observed token by token as it happens, so the tokens an aborted request did produce are in it.
 *
 * <p>Thread-safe and lock-free: histograms are arrays of atomic counters, so the engine thread can record
 * without blocking. Gauges are read from {@link EngineStats} at scrape time.
 */
@Singleton
public final class VllmMetrics {
    private static final double[] TTFT_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
            1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    private static final double[] ITL_BUCKETS = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
            2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
    private static final double[] E2E_BUCKETS = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
            40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0};

    private final AgentEngine agent;
    private final Histogram ttft = new Histogram(TTFT_BUCKETS);
    private final Histogram itl = new Histogram(ITL_BUCKETS);
    private final Histogram tpot = new Histogram(ITL_BUCKETS);
    private final Histogram e2e = new Histogram(E2E_BUCKETS);
    private final LongAdder finishedStop = new LongAdder();
    private final LongAdder finishedLength = new LongAdder();
    private final LongAdder finishedAbort = new LongAdder();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();
    private static final double[] MIGRATION_BUCKETS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
            0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
    private final Histogram migration = new Histogram(MIGRATION_BUCKETS);
    private final LongAdder migrationBytes = new LongAdder();
    private final LongAdder migrationFailures = new LongAdder();

    public VllmMetrics(AgentEngine agent) {
        this.agent = agent;
    }

    public void recordInterTokenLatency(double seconds) {
        itl.observe(seconds);
    }

    /** One KV pull of a decode agent that landed: its wall time and bytes. */
    public void recordMigration(double seconds, long bytes) {
        migration.observe(seconds);
        migrationBytes.add(bytes);
    }

    /** One KV pull that failed (peer gone, timeout). */
    public void recordMigrationFailure() {
        migrationFailures.increment();
    }

    /** One finished request: its latencies (unless aborted) and token counts. */
    public void recordFinished(String finishReason, int prompt, int generated, long firstTokenNanos, long totalNanos) {
        switch (finishReason) {
            case "stop" -> finishedStop.increment();
            case "length" -> finishedLength.increment();
            default -> finishedAbort.increment();
        }
        promptTokens.add(prompt);
        generationTokens.add(generated);
        if (!finishReason.equals("stop") && !finishReason.equals("length")) {
            return;
        }
        if (firstTokenNanos >= 0) {
            ttft.observe(firstTokenNanos / 1e9);
            if (generated > 1) {
                tpot.observe((totalNanos - firstTokenNanos) / 1e9 / (generated - 1));
            }
        }
        e2e.observe(totalNanos / 1e9);
    }

    /** The exposition text. */
    public String scrape() {
        return scrape(agent.engine().stats(), agent.servedName());
    }

    /** The exposition text for these engine figures; separate from the engine so that tests can check the format. */
    String scrape(EngineStats s, String modelName) {
        String l = "{model_name=\"" + modelName.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"}";
        StringBuilder b = new StringBuilder(8192);
        gauge(b, "vllm:num_requests_running", "Requests in the running batch.", l, s.running());
        gauge(b, "vllm:num_requests_waiting", "Requests waiting to be scheduled.", l, s.waiting());
        gauge(b, "vllm:kv_cache_usage_perc", "KV cache usage, 1 = full.", l, s.kvUsage());
        gauge(b, "vllm:gpu_cache_usage_perc", "KV cache usage, 1 = full (vLLM v0 name).", l, s.kvUsage());
        gauge(b, "tandem:kv_blocks_used", "KV blocks held by sequences and held caches.", l, s.kvBlocksUsed());
        gauge(b, "tandem:kv_blocks_total", "KV blocks in the arena.", l, s.kvBlocksTotal());
        gauge(b, "tandem:kv_sessions_held", "Prefill sessions whose KV blocks wait for a decode agent.", l,
                s.heldCaches());
        counter(b, "tandem:kv_migration_bytes_total", "KV bytes pulled from prefill agents.", l, migrationBytes.sum());
        counter(b, "tandem:kv_migration_failures_total", "KV pulls that failed (peer gone, timeout).", l,
                migrationFailures.sum());
        counter(b, "vllm:prompt_tokens_total", "Prompt tokens of finished requests.", l, promptTokens.sum());
        counter(b, "vllm:generation_tokens_total", "Generated tokens of finished requests.", l, generationTokens.sum());
        counter(b, "vllm:num_preemptions_total", "Sequences preempted and recomputed.", l, s.preemptions());
        b.append("# HELP vllm:request_success_total Finished requests by finish reason.\n");
        b.append("# TYPE vllm:request_success_total counter\n");
        String m = l.substring(0, l.length() - 1);
        b.append("vllm:request_success_total").append(m).append(",finished_reason=\"stop\"} ").append(finishedStop.sum()).append('\n');
        b.append("vllm:request_success_total").append(m).append(",finished_reason=\"length\"} ").append(finishedLength.sum()).append('\n');
        b.append("vllm:request_success_total").append(m).append(",finished_reason=\"abort\"} ").append(finishedAbort.sum()).append('\n');
        ttft.write(b, "vllm:time_to_first_token_seconds", "Time to first token.", m);
        itl.write(b, "vllm:inter_token_latency_seconds", "Time between consecutive output tokens.", m);
        tpot.write(b, "vllm:time_per_output_token_seconds", "Mean time per output token of each request.", m);
        e2e.write(b, "vllm:e2e_request_latency_seconds", "End-to-end request latency.", m);
        migration.write(b, "tandem:kv_migration_seconds", "Wall time of KV pulls from prefill agents.", m);
        return b.toString();
    }

    private static void gauge(StringBuilder b, String name, String help, String labels, double v) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" gauge\n");
        b.append(name).append(labels).append(' ').append(fmt(v)).append('\n');
    }

    private static void counter(StringBuilder b, String name, String help, String labels, double v) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" counter\n");
        b.append(name).append(labels).append(' ').append(fmt(v)).append('\n');
    }

    static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.9g", v);
    }

    /** A cumulative histogram with fixed upper bounds. */
    static final class Histogram {
        private final double[] bounds;
        private final AtomicLongArray counts;
        private final DoubleAdder sum = new DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new AtomicLongArray(bounds.length + 1);
        }

        void observe(double v) {
            int i = 0;
            while (i < bounds.length && v > bounds[i]) {
                i++;
            }
            counts.incrementAndGet(i);
            sum.add(v);
        }

        void write(StringBuilder b, String name, String help, String labelsOpen) {
            b.append("# HELP ").append(name).append(' ').append(help).append('\n');
            b.append("# TYPE ").append(name).append(" histogram\n");
            // _count is the +Inf bucket as read in this pass, so that an observation racing with the scrape cannot
            // make them disagree (Prometheus treats that as a broken histogram).
            long cum = 0;
            for (int i = 0; i <= bounds.length; i++) {
                cum += counts.get(i);
                String le = i < bounds.length ? Double.toString(bounds[i]) : "+Inf";
                b.append(name).append("_bucket").append(labelsOpen).append(",le=\"").append(le).append("\"} ")
                        .append(cum).append('\n');
            }
            b.append(name).append("_sum").append(labelsOpen).append("} ").append(fmt(sum.sum())).append('\n');
            b.append(name).append("_count").append(labelsOpen).append("} ").append(cum).append('\n');
        }
    }
}
