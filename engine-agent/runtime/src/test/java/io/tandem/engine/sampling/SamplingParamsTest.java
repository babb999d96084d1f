package io.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.InvalidSamplingParamsException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SamplingParamsTest {

    @Test
    void defaultsMatchVllmAndOpenAi() {
        SamplingParams p = SamplingParams.builder().build();
        assertThat(p.temperature()).isEqualTo(1.0);
        assertThat(p.topK()).isEqualTo(-1);
        assertThat(p.topKEnabled()).isFalse();
        assertThat(p.topP()).isEqualTo(1.0);
        assertThat(p.minP()).isEqualTo(0.0);
        assertThat(p.repetitionPenalty()).isEqualTo(1.0);
        assertThat(p.presencePenalty()).isEqualTo(0.0);
        assertThat(p.frequencyPenalty()).isEqualTo(0.0);
        assertThat(p.hasPenalties()).isFalse();
        assertThat(p.seed()).isNull();
        assertThat(p.stop()).isEmpty();
        assertThat(p.stopTokenIds()).isEmpty();
        assertThat(p.ignoreEos()).isFalse();
        assertThat(p.minNewTokens()).isZero();
        assertThat(p.maxTokens()).isEqualTo(16);
        assertThat(p.logprobs()).isNull();
        assertThat(p.skipSpecialTokens()).isTrue();
        assertThat(p.isGreedy()).isFalse();
    }

    @Test
    void greedyFactorySetsTemperatureZero() {
        SamplingParams p = SamplingParams.greedy(100);
        assertThat(p.isGreedy()).isTrue();
        assertThat(p.maxTokens()).isEqualTo(100);
        assertThat(p.topP()).isEqualTo(1.0);
    }

    @Test
    void nullCollectionsBecomeEmptyAndCopiesAreImmutable() {
        List<String> stops = new ArrayList<>(List.of("a"));
        Set<Integer> ids = new HashSet<>(Set.of(7));
        SamplingParams p = SamplingParams.builder().stop(stops).stopTokenIds(ids).build();
        stops.add("b");
        ids.add(8);
        assertThat(p.stop()).containsExactly("a");
        assertThat(p.stopTokenIds()).containsExactly(7);
        assertThatThrownBy(() -> p.stop().add("c")).isInstanceOf(UnsupportedOperationException.class);

        SamplingParams q = new SamplingParams(1, -1, 1, 0, 1, 0, 0, null, null, null, false, 0, 16, null, true);
        assertThat(q.stop()).isEmpty();
        assertThat(q.stopTokenIds()).isEmpty();
    }

    @Test
    void toBuilderRoundTrips() {
        SamplingParams p = SamplingParams.builder().temperature(0.7).topK(40).topP(0.9).minP(0.05)
                .repetitionPenalty(1.1).presencePenalty(0.5).frequencyPenalty(-0.5).seed(42L).stop("x")
                .stopTokenIds(Set.of(3)).ignoreEos(true).minNewTokens(2).maxTokens(64).logprobs(5)
                .skipSpecialTokens(false).build();
        assertThat(p.toBuilder().build()).isEqualTo(p);
        assertThat(p.hasPenalties()).isTrue();
    }

    @Test
    void boundaryValuesAreAccepted() {
        SamplingParams.builder().temperature(0).topP(1).minP(1).presencePenalty(-2).frequencyPenalty(2)
                .logprobs(0).build();
        SamplingParams.builder().temperature(100).minP(0).presencePenalty(2).frequencyPenalty(-2)
                .logprobs(20).minNewTokens(16).maxTokens(16).topK(0).build();
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                bad("temperature", b -> b.temperature(-0.1), "temperature: -0.1 (expected: 0 <= temperature <= 100)"),
                bad("temperature", b -> b.temperature(Double.NaN), "temperature: NaN"),
                bad("temperature", b -> b.temperature(101), "temperature: 101 (expected"),
                bad("top_p", b -> b.topP(1.5), "top_p: 1.5 (expected: 0 < top_p <= 1)"),
                bad("top_p", b -> b.topP(0), "top_p: 0 (expected: 0 < top_p <= 1)"),
                bad("min_p", b -> b.minP(-0.01), "min_p: -0.01 (expected: 0 <= min_p <= 1)"),
                bad("min_p", b -> b.minP(1.01), "min_p: 1.01"),
                bad("repetition_penalty", b -> b.repetitionPenalty(0), "repetition_penalty: 0 (expected"),
                bad("repetition_penalty", b -> b.repetitionPenalty(Double.POSITIVE_INFINITY),
                        "repetition_penalty: Infinity"),
                bad("presence_penalty", b -> b.presencePenalty(2.5),
                        "presence_penalty: 2.5 (expected: -2 <= presence_penalty <= 2)"),
                bad("frequency_penalty", b -> b.frequencyPenalty(-3), "frequency_penalty: -3 (expected"),
                bad("max_tokens", b -> b.maxTokens(0), "max_tokens: 0 (expected: max_tokens > 0)"),
                bad("min_tokens", b -> b.minNewTokens(-1), "min_tokens: -1"),
                bad("min_tokens", b -> b.maxTokens(8).minNewTokens(9),
                        "min_tokens: 9 (expected: 0 <= min_tokens <= max_tokens = 8)"),
                bad("logprobs", b -> b.logprobs(21), "logprobs: 21 (expected: 0 <= logprobs <= 20"),
                bad("logprobs", b -> b.logprobs(-1), "logprobs: -1"),
                bad("stop", b -> b.stop("ok", ""), "stop: element 1 is empty"),
                bad("stop", b -> b.stop(Arrays.asList("ok", null)), "stop: element 1 is null"),
                bad("stop_token_ids", b -> b.stopTokenIds(Set.of(-5)), "stop_token_ids: contains -5"));
    }

    private static Arguments bad(String param, UnaryOperator<SamplingParams.Builder> change, String message) {
        return Arguments.of(param, change, message);
    }

    @ParameterizedTest(name = "{0}: {2}")
    @MethodSource("invalid")
    void invalidParametersAreNamed(String param, UnaryOperator<SamplingParams.Builder> change, String message) {
        assertThatThrownBy(() -> change.apply(SamplingParams.builder()).build())
                .isInstanceOfSatisfying(InvalidSamplingParamsException.class,
                        e -> assertThat(e.parameter()).isEqualTo(param))
                .hasMessageStartingWith(message);
    }
}
