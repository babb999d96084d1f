package io.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class FinishReasonTest {

    @Test
    void wireNamesMatchOpenAiAndVllm() {
        assertThat(FinishReason.STOP.wireName()).isEqualTo("stop");
        assertThat(FinishReason.LENGTH.wireName()).isEqualTo("length");
        assertThat(FinishReason.ABORT.wireName()).isEqualTo("abort");
        for (FinishReason r : FinishReason.values()) {
            assertThat(FinishReason.fromWireName(r.wireName())).isSameAs(r);
        }
        assertThatThrownBy(() -> FinishReason.fromWireName("STOP")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("finish_reason: STOP (expected: stop, length or abort)");
    }
}
