package io.tandem.agent.distserve;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.agent.config.EngineRole;
import io.tandem.agent.errors.BadParameterException;
import org.junit.jupiter.api.Test;

class FieldsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode json(String s) throws Exception {
        return JSON.readTree(s);
    }

    @Test
    void integer_acceptsOnlyIntegralNumbersInRange() throws Exception {
        assertThat(Fields.integer(json("{\"a\":7}"), "a", "x.a", 0, 10)).isEqualTo(7);
        assertThat(Fields.integer(json("{}"), "a", "x.a", 0, 10, 3L)).isEqualTo(3);
        for (String bad : new String[] {"{\"a\":\"7\"}", "{\"a\":7.5}", "{\"a\":11}", "{\"a\":-1}", "{\"a\":[7]}",
                "{\"a\":100000000000000000000000}", "{}"}) {
            assertThatThrownBy(() -> Fields.integer(json(bad), "a", "x.a", 0, 10)).as(bad)
                    .isInstanceOf(BadParameterException.class).hasMessageStartingWith("x.a: ")
                    .extracting(e -> ((BadParameterException) e).param()).isEqualTo("x.a");
        }
    }

    @Test
    void ids_refuseOutOfRangeRepeatedAndTooMany() throws Exception {
        assertThat(Fields.ids(json("{\"b\":[3,1,2]}"), "b", "b", 4, 4)).containsExactly(3, 1, 2);
        assertThatThrownBy(() -> Fields.ids(json("{\"b\":[1,1]}"), "b", "b", 4, 4)).hasMessageContaining("twice");
        assertThatThrownBy(() -> Fields.ids(json("{\"b\":[4]}"), "b", "b", 4, 4)).hasMessageContaining("0..3");
        assertThatThrownBy(() -> Fields.ids(json("{\"b\":[-1]}"), "b", "b", 4, 4)).hasMessageContaining("0..3");
        assertThatThrownBy(() -> Fields.ids(json("{\"b\":[0,1,2,3,0]}"), "b", "b", 4, 4)).hasMessageContaining("at most 4");
        assertThatThrownBy(() -> Fields.ids(json("{\"b\":\"1,2\"}"), "b", "b", 4, 4)).hasMessageContaining("list");
    }

    @Test
    void string_andBool_areStrict() throws Exception {
        assertThat(Fields.string(json("{\"s\":\"x\"}"), "s", "s", 5)).isEqualTo("x");
        assertThatThrownBy(() -> Fields.string(json("{\"s\":5}"), "s", "s", 5)).hasMessageContaining("a string");
        assertThatThrownBy(() -> Fields.string(json("{\"s\":\"  \"}"), "s", "s", 5)).hasMessageContaining("1..5");
        assertThatThrownBy(() -> Fields.string(json("{\"s\":\"toolong\"}"), "s", "s", 5)).hasMessageContaining("1..5");
        assertThat(Fields.bool(json("{}"), "f", "f", false)).isFalse();
        assertThatThrownBy(() -> Fields.bool(json("{\"f\":\"true\"}"), "f", "f", false)).hasMessageContaining("boolean");
    }

    @Test
    void engineRole_hasLmdeployIntegers() {
        assertThat(EngineRole.parse("hybrid").wire()).isEqualTo(1);
        assertThat(EngineRole.parse("Prefill").wire()).isEqualTo(2);
        assertThat(EngineRole.parse("3")).isEqualTo(EngineRole.DECODE);
        assertThatThrownBy(() -> EngineRole.parse("both")).hasMessageContaining("tandem.agent.role");
    }
}
