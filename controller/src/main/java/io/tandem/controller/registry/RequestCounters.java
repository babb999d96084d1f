package io.tandem.controller.registry;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One node's request counters, LMDeploy's {@code pre_call}/{@code post_call}: the requests routed to it that have not
 * finished, the last {@value NodeStatus#LATENCY_WINDOW} request latencies, and when a request on it last finished
 * well.
 *
 * <p><b>Why not registry events.</b> These change twice per request, on the threads that route and settle requests
 * (the proxy's event loops). As owner-thread events they cost two cross-thread wake-ups per request and a snapshot
 * of every node after each, which at ~20k requests/s was a large share of the proxy's CPU (docs/benchmarks.md,
 * "Request counters off the owner thread"). So they are updated where they happen; the owner thread only hears of a
 * request's outcome when its circuit breaker needs it ({@link NodeRegistry#requestFinished}).
 *
 * <p>One instance per node for as long as it is in the pool; every {@link NodeSnapshot} of the node shares it, so
 * readers see the counts live. Thread-safe: the count is atomic; the latency window is guarded by this object's
 * monitor (uncontended in practice: one short critical section per finished request).
 */
public final class RequestCounters {
    private final AtomicInteger unfinished = new AtomicInteger();
    /** Ring of the last latencies, seconds; {@link #recorded} counts every latency ever added. */
    private final double[] window = new double[NodeStatus.LATENCY_WINDOW];
    private long recorded;
    /** Clock millis of the last request that finished well; {@link Long#MIN_VALUE} before the first. */
    private volatile long lastSuccessMillis = Long.MIN_VALUE;
    /** Set by the registry's owner thread: its circuit breaker must hear of every success (not CLOSED, or not stable). */
    private volatile boolean breakerListening;

    public RequestCounters() {}

    /** Counters that start at {@code unfinished} requests and {@code latencies} (seconds, oldest first). */
    public static RequestCounters of(int unfinished, List<Double> latencies) {
        if (unfinished < 0) {
            throw new IllegalArgumentException("unfinished: " + unfinished + " (expected: >= 0)");
        }
        RequestCounters c = new RequestCounters();
        c.unfinished.set(unfinished);
        latencies.forEach(c::record);
        return c;
    }

    /** Requests routed to the node that have not finished. */
    public int unfinished() {
        return unfinished.get();
    }

    /** The last {@value NodeStatus#LATENCY_WINDOW} latencies in seconds, oldest first. */
    public synchronized List<Double> latencies() {
        int n = (int) Math.min(recorded, window.length);
        Double[] out = new Double[n];
        for (int i = 0; i < n; i++) {
            out[i] = window[(int) ((recorded - n + i) % window.length)];
        }
        return List.of(out);
    }

    /** Mean of the recorded latencies in seconds; 0 when none (so an unmeasured node gets tried). */
    public synchronized double meanLatencySeconds() {
        int n = (int) Math.min(recorded, window.length);
        if (n == 0) {
            return 0;
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += window[i];
        }
        return sum / n;
    }

    /** Clock millis of the last request that finished well, {@link Long#MIN_VALUE} if none has. */
    public long lastSuccessMillis() {
        return lastSuccessMillis;
    }

    void started() {
        unfinished.incrementAndGet();
    }

    /** One request is no longer unfinished (never below zero: a settle after the node was re-added is harmless). */
    void settled() {
        int v;
        do {
            v = unfinished.get();
        } while (v > 0 && !unfinished.compareAndSet(v, v - 1));
    }

    void succeeded(double latencySeconds, long nowMillis) {
        settled();
        record(latencySeconds);
        lastSuccessMillis = nowMillis;
    }

    private synchronized void record(double seconds) {
        window[(int) (recorded++ % window.length)] = seconds;
    }

    boolean breakerListening() {
        return breakerListening;
    }

    void breakerListening(boolean listening) {
        breakerListening = listening;
    }
}
