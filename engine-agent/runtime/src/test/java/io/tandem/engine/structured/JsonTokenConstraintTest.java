package io.tandem.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.testing.TestModels;
import io.tandem.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class JsonTokenConstraintTest {
    private static LoadedModel tiny;
    private static Tokenizer tok;

    @BeforeAll
    static void load() {
        tiny = LoadedModel.load(TestModels.tiny(GgmlType.F32));
        tok = tiny.tokenizer();
    }

    @AfterAll
    static void close() {
        tiny.close();
    }

    private static JsonTokenConstraint after(String schema, byte[] prefix) {
        JsonTokenConstraint c = (JsonTokenConstraint) (schema == null ? JsonConstraints.forJsonObject(tok)
                : JsonConstraints.forJsonSchema(tok, schema));
        // Feed byte by byte through single-byte tokens, so any prefix (even mid-character) can be reached.
        for (byte b : prefix) {
            c.accept(byteToken(b));
        }
        return c;
    }

    private static int byteToken(byte b) {
        for (int id = 0; id < tok.vocabSize(); id++) {
            byte[] t = tok.tokenBytes(id);
            if (t.length == 1 && t[0] == b && !tok.isControl(id)) {
                return id;
            }
        }
        throw new AssertionError("no single-byte token for " + b);
    }

    private static float[] mask(JsonTokenConstraint c, boolean fast) {
        c.stringFastPath = fast;
        float[] logits = new float[tiny.config().vocabSize()];
        c.apply(logits, 0, logits.length);
        return logits;
    }

    @Test
    void stringFastPath_allowsExactlyWhatTheAutomatonAllows() {
        String limited = "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"maxLength\":3}}}";
        Object[][] cases = {
                {null, "{\"a\":\""},
                {null, "{\"a\":\"xy"},
                {limited, "{\"s\":\""},
                {limited, "{\"s\":\"ab"},
                {limited, "{\"s\":\"abc"},
                {limited, "{\"s\":\"a\u00e9"},
        };
        for (Object[] k : cases) {
            byte[] prefix = ((String) k[1]).getBytes(StandardCharsets.UTF_8);
            float[] fast = mask(after((String) k[0], prefix), true);
            float[] slow = mask(after((String) k[0], prefix), false);
            assertThat(fast).as("%s after %s", k[0], k[1]).containsExactly(slow);
            int allowed = 0;
            for (float f : fast) {
                allowed += f == 0 ? 1 : 0;
            }
            assertThat(allowed).as("after %s", k[1]).isPositive();
        }
    }

    @Test
    void endOfGeneration_isAllowedOnlyWhereTheOutputMayEnd() {
        int eos = tok.eosId();
        String integer = "{\"type\":\"integer\"}";
        assertThat(mask(after(integer, new byte[0]), true)[eos]).isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(mask(after(integer, "12".getBytes(StandardCharsets.UTF_8)), true)[eos]).isZero();
        JsonTokenConstraint c = after(integer, "12".getBytes(StandardCharsets.UTF_8));
        c.accept(eos); // allowed: the number may end here
        assertThatThrownBy(() -> after(null, "{".getBytes(StandardCharsets.UTF_8)).accept(eos))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("before the JSON value is complete");
        assertThatThrownBy(() -> after(null, new byte[0]).accept(byteToken((byte) '[')))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not continue valid JSON");
    }

    @Test
    void isComplete_onlyAfterTheWholeObject() {
        JsonTokenConstraint c = after(null, "{\"a\":[1]".getBytes(StandardCharsets.UTF_8));
        assertThat(c.isComplete()).isFalse();
        c.accept(byteToken((byte) '}'));
        assertThat(c.isComplete()).isTrue();
    }
}
