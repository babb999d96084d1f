package io.tandem.controller.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;

import io.tandem.controller.health.HealthProbe.ProbeResult;

class HealthCheckerTest {
    private final Map<String, CompletableFuture<ProbeResult>> pending = new HashMap<>();
    private final List<String> probed = new ArrayList<>();
    private final List<String> reports = new ArrayList<>();
    private final List<String> targets = new ArrayList<>(List.of("http://a:1", "http://b:1"));

    private final HealthChecker checker = new HealthChecker(url -> {
        probed.add(url);
        return pending.computeIfAbsent(url, u -> new CompletableFuture<>());
    }, () -> targets, (url, r) -> {
        reports.add(url + "=" + r.healthy());
        return CompletableFuture.completedFuture(null);
    });

    @Test
    void probesEveryTarget_andReportsEachResult() {
        checker.checkAll();
        assertThat(probed).containsExactly("http://a:1", "http://b:1");
        pending.get("http://a:1").complete(ProbeResult.ok());
        pending.get("http://b:1").complete(ProbeResult.failed("refused"));
        assertThat(reports).containsExactly("http://a:1=true", "http://b:1=false");
        assertThat(checker.inFlight()).isZero();
    }

    @Test
    void hangingProbe_isNotRepeated_untilItFinishes() {
        checker.checkAll();
        pending.get("http://b:1").complete(ProbeResult.ok());
        pending.remove("http://b:1");
        checker.checkAll();
        assertThat(probed).containsExactly("http://a:1", "http://b:1", "http://b:1");
        assertThat(checker.inFlight()).isEqualTo(2);
    }

    @Test
    void probeThatThrows_isReportedUnhealthy() {
        HealthChecker failing = new HealthChecker(url -> CompletableFuture.failedFuture(new IllegalStateException("x")),
                () -> List.of("http://a:1"), (url, r) -> {
                    reports.add(url + "=" + r.healthy() + ":" + r.reason());
                    return CompletableFuture.completedFuture(null);
                });
        failing.checkAll().join();
        assertThat(reports).singleElement().asString().startsWith("http://a:1=false:probe error");
    }
}
