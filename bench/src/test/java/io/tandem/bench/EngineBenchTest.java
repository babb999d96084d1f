package io.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class EngineBenchTest {
    @Test
    void medianGap_takesEverySequencesRecordedIntervals() {
        long[][] gaps = {{5, 1, 9, 0}, {3, 7, 0, 0}};
        // Sequence 0 produced 4 tokens (3 intervals), sequence 1 produced 3 (2 intervals): {5, 1, 9, 3, 7}.
        assertThat(EngineBench.medianGap(gaps, new int[] {4, 3})).isEqualTo(5.0);
        assertThat(EngineBench.medianGap(gaps, new int[] {4, 2})).as("{5, 1, 9, 3}").isEqualTo(4.0);
        assertThat(EngineBench.medianGap(gaps, new int[] {1, 0})).isNaN();
    }

    @Test
    void decodeWarmup_mustBeAtLeastOneToken() {
        assertThatThrownBy(() -> new EngineBench(Path.of("models"), 1, new int[] {512}, 0, 64, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("decodeWarmup: 0");
    }
}
