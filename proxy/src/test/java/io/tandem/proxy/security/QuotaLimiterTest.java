package io.tandem.proxy.security;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

class QuotaLimiterTest {
    @Test
    void burstThenRetryAfter_refillsWithTime_perClient() {
        AtomicLong now = new AtomicLong();
        QuotaLimiter q = new QuotaLimiter(0.5, 2, now::get);
        assertThat(q.tryAcquire("a")).isZero();
        assertThat(q.tryAcquire("a")).isZero();
        assertThat(q.tryAcquire("a")).isEqualTo(2); // one token takes 2 s at 0.5/s
        assertThat(q.tryAcquire("b")).isZero();
        now.addAndGet(2_000_000_000L);
        assertThat(q.tryAcquire("a")).isZero();
        assertThat(q.tryAcquire("a")).isEqualTo(2);
    }

    @Test
    void allowlist_matchesAddressesAndBlocks() throws Exception {
        IpAllowlist l = new IpAllowlist(List.of("10.0.0.0/8", "127.0.0.1", "::1"));
        assertThat(l.allows(java.net.InetAddress.getByName("10.1.2.3"))).isTrue();
        assertThat(l.allows(java.net.InetAddress.getByName("11.1.2.3"))).isFalse();
        assertThat(l.allows(java.net.InetAddress.getByName("127.0.0.1"))).isTrue();
        assertThat(l.allows(java.net.InetAddress.getByName("127.0.0.2"))).isFalse();
        assertThat(l.allows(java.net.InetAddress.getByName("::1"))).isTrue();
        assertThat(new IpAllowlist(List.of()).allows(java.net.InetAddress.getByName("8.8.8.8"))).isTrue();
    }
}
