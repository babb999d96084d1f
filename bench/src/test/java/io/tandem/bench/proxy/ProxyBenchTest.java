package io.tandem.bench.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ProxyBenchTest {
    private static ProxyBench.Result r(double rps, double p99, double proxyCpu) {
        return new ProxyBench.Result(rps, 1, p99, 1, 100, proxyCpu);
    }

    @Test
    void median_ofEachColumnOverTheRounds_errorsSummed() {
        ProxyBench.Result[][] rounds = {
                {r(100, 2, 20), r(80, 3, 40)},
                {r(50, 9, 30), r(45, 8, 90)},
                {r(120, 1, 25), r(90, 2, 35)},
        };
        ProxyBench.Result m = ProxyBench.median(rounds, 1);
        assertThat(m.rps()).isEqualTo(80);
        assertThat(m.p99()).isEqualTo(3);
        assertThat(m.proxyCpuMicros()).isEqualTo(40);
        assertThat(m.errors()).isEqualTo(3);
        // the ratio within each round (0.8, 0.9, 0.75), not the ratio of the medians
        assertThat(ProxyBench.median(rounds, x -> x[1].rps() / x[0].rps())).isEqualTo(0.8);
        assertThat(ProxyBench.median(new ProxyBench.Result[][] {{r(1, 1, 1)}, {r(3, 1, 1)}}, x -> x[0].rps()))
                .isEqualTo(2);
    }
}
