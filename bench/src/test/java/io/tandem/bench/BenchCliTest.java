package io.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BenchCliTest {
    @Test
    void childArgs_runOneTypeInItsOwnJvm_keepingEveryOtherOption() {
        assertThat(BenchCli.childArgs(new String[] {"--types", "f32,q8_0", "--batches", "1", "--decode-tokens", "256"},
                "q8_0"))
                .containsExactly("--batches", "1", "--decode-tokens", "256", "--types", "q8_0", "--same-jvm");
        assertThat(BenchCli.childArgs(new String[] {"--types=f32,q8_0", "--threads", "2"}, "f32"))
                .containsExactly("--threads", "2", "--types", "f32", "--same-jvm");
    }
}
