package io.tandem.proxy.security;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Per-client token buckets: {@code ratePerSecond} tokens refill continuously up to {@code burst}; a request takes
 * one. A client is its {@code X-Client-Name}, else its address. Thread-safe: one small lock per bucket (a bucket's
 * refill-and-take must be atomic, and contention is per client).
 */
public final class QuotaLimiter {
    private static final int MAX_CLIENTS = 100_000;

    private final double ratePerSecond;
    private final double burst;
    private final LongSupplier nanoClock;
    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

    /**
     * @param ratePerSecond sustained requests per second per client (> 0)
     * @param burst         bucket size (>= 1)
     * @param nanoClock     monotonic nanoseconds ({@code System::nanoTime}; a fake in tests)
     */
    public QuotaLimiter(double ratePerSecond, double burst, LongSupplier nanoClock) {
        if (!(ratePerSecond > 0)) {
            throw new IllegalArgumentException("ratePerSecond: " + ratePerSecond + " (expected: > 0)");
        }
        if (!(burst >= 1)) {
            throw new IllegalArgumentException("burst: " + burst + " (expected: >= 1)");
        }
        this.ratePerSecond = ratePerSecond;
        this.burst = burst;
        this.nanoClock = nanoClock;
    }

    /** Takes a token for {@code client}: 0 if allowed, else the whole seconds to wait (>= 1), for Retry-After. */
    public long tryAcquire(String client) {
        if (buckets.size() > MAX_CLIENTS) {
            buckets.clear(); // bounded memory under a flood of names; clients start with a full bucket again
        }
        Bucket b = buckets.computeIfAbsent(client, c -> new Bucket(burst, nanoClock.getAsLong()));
        synchronized (b) {
            long now = nanoClock.getAsLong();
            b.tokens = Math.min(burst, b.tokens + (now - b.lastNanos) / 1e9 * ratePerSecond);
            b.lastNanos = now;
            if (b.tokens >= 1) {
                b.tokens -= 1;
                return 0;
            }
            return Math.max(1, (long) Math.ceil((1 - b.tokens) / ratePerSecond));
        }
    }

    private static final class Bucket {
        double tokens;
        long lastNanos;

        Bucket(double tokens, long lastNanos) {
            this.tokens = tokens;
            this.lastNanos = lastNanos;
        }
    }
}
