package io.tandem.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.InvalidJsonSchemaException;
import io.tandem.engine.structured.JsonGrammar.Node;
import io.tandem.engine.structured.JsonGrammar.Stack;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class JsonGrammarTest {

    /** "complete", "accepting" (may end but could go on), "prefix" (valid so far), or "invalid". */
    private static String match(Node root, String text) {
        Stack[] s = JsonGrammar.initial(root);
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            s = JsonGrammar.feed(s, b & 0xFF);
            if (s == null) {
                return "invalid";
            }
        }
        return JsonGrammar.complete(s) ? "complete" : JsonGrammar.accepting(s) ? "accepting" : "prefix";
    }

    private static String match(String schema, String text) {
        return match(SchemaCompiler.compile(schema), text);
    }

    private static final Node ANY_OBJECT = JsonGrammar.AnyNode.ANY_OBJECT;

    @Test
    void anyObject_acceptsJsonObjects_withLimitedWhitespace() {
        assertThat(match(ANY_OBJECT, "{}")).isEqualTo("complete");
        assertThat(match(ANY_OBJECT, "{\"a\": [1, -2.5e3, true, null, {\"b\": \"x\\u00e9\\n\"}], \"c\":\"é😀\"}"))
                .isEqualTo("complete");
        assertThat(match(ANY_OBJECT, "{\n  \"a\": 1\n}")).isEqualTo("complete");
        assertThat(match(ANY_OBJECT, "{\"a\"")).isEqualTo("prefix");
        assertThat(match(ANY_OBJECT, "{\"a\":  1}")).as("two spaces").isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, " {}")).as("leading space").isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "{} ")).as("after the end").isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "[]")).isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "{\"a\":1,}")).isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "{\"a\":01}")).isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "{\"a\":\"\u0001\"}")).as("raw control character").isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "{\"a\":tru")).isEqualTo("prefix");
        assertThat(match(ANY_OBJECT, "{\"a\":trux")).isEqualTo("invalid");
        assertThat(match(ANY_OBJECT, "{\"\\x\":1}")).as("bad escape").isEqualTo("invalid");
    }

    @Test
    void topLevelNumbers_mayEndButAreNotComplete() {
        assertThat(match("{\"type\": \"integer\"}", "12")).isEqualTo("accepting");
        assertThat(match("{\"type\": \"integer\"}", "0")).isEqualTo("complete");
        assertThat(match("{\"type\": \"integer\"}", "1.5")).isEqualTo("invalid");
        assertThat(match("{\"type\": \"number\"}", "1.5e")).isEqualTo("prefix");
        assertThat(match("{\"type\": \"integer\"}", "1234567890123456")).as("16 digits").isEqualTo("invalid");
    }

    @Test
    void objects_followPropertiesRequiredAndAdditionalProperties() {
        String schema = """
                {"type":"object","properties":{"name":{"type":"string","maxLength":3},"age":{"type":"integer"}},
                 "required":["name"]}""";
        assertThat(match(schema, "{\"name\":\"abc\",\"age\":3}")).isEqualTo("complete");
        assertThat(match(schema, "{\"age\":3,\"name\":\"a\"}")).isEqualTo("complete");
        assertThat(match(schema, "{\"age\":3}")).as("missing required").isEqualTo("invalid");
        assertThat(match(schema, "{\"name\":\"abcd\"")).as("too long").isEqualTo("invalid");
        assertThat(match(schema, "{\"name\":\"a\",\"name\"")).as("twice").isEqualTo("invalid");
        assertThat(match(schema, "{\"nick\"")).as("undeclared").isEqualTo("invalid");
        String open = """
                {"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"boolean"}}""";
        assertThat(match(open, "{\"x\":true,\"a\":2}")).isEqualTo("complete");
        assertThat(match(open, "{\"x\":2")).isEqualTo("invalid");
        assertThat(match(open, "{\"a\":true")).isEqualTo("invalid");
        assertThat(match(open, "{\"a\":1,\"a\"")).isEqualTo("invalid");
    }

    @Test
    void arrays_enums_consts_unions_refs_andBounds() {
        assertThat(match("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}", "[]"))
                .isEqualTo("invalid");
        String arr = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}";
        assertThat(match(arr, "[1, 2]")).isEqualTo("complete");
        assertThat(match(arr, "[1,2,")).isEqualTo("invalid");
        assertThat(match("{\"enum\":[\"red\",\"green\",1,12]}", "\"green\"")).isEqualTo("complete");
        assertThat(match("{\"enum\":[\"red\",\"green\",1,12]}", "1")).isEqualTo("accepting");
        assertThat(match("{\"enum\":[\"red\",\"green\",1,12]}", "\"blue\"")).isEqualTo("invalid");
        assertThat(match("{\"const\":{\"a\":[1,2]}}", "{\"a\":[1,2]}")).isEqualTo("complete");
        String union = "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}},"
                + "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}}},{\"type\":\"null\"}]}";
        assertThat(match(union, "{\"b\":\"x\"}")).isEqualTo("complete");
        assertThat(match(union, "{\"a\":1}")).isEqualTo("complete");
        assertThat(match(union, "{\"a\":\"x\"")).isEqualTo("invalid");
        assertThat(match(union, "null")).isEqualTo("complete");
        String tree = """
                {"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{
                  "v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}}}""";
        assertThat(match(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}")).isEqualTo("complete");
        String bounded = "{\"type\":\"integer\",\"minimum\":10,\"maximum\":20}";
        assertThat(match(bounded, "3")).as("no completion of 3 lies in [10, 20]").isEqualTo("invalid");
        assertThat(match(bounded, "1")).isEqualTo("prefix");
        assertThat(match(bounded, "15")).isEqualTo("accepting");
        assertThat(match(bounded, "-")).isEqualTo("invalid");
        assertThat(match(bounded, "21")).isEqualTo("invalid");
        String real = "{\"type\":\"number\",\"exclusiveMinimum\":0,\"maximum\":1}";
        assertThat(match(real, "0.5")).isEqualTo("accepting");
        assertThat(match(real, "0")).isEqualTo("prefix"); // 0 itself is excluded, 0.x is not
        assertThat(match(real, "1.5")).isEqualTo("invalid");
        assertThat(match("{\"type\":[\"string\",\"null\"]}", "null")).isEqualTo("complete");
        assertThat(match("{\"type\":\"string\",\"nullable\":true}", "null")).isEqualTo("complete");
        assertThat(match("{\"type\":\"string\",\"minLength\":2}", "\"é\"")).isEqualTo("invalid");
        assertThat(match("{\"type\":\"string\",\"minLength\":2}", "\"éa\"")).isEqualTo("complete");
    }

    @Test
    void invalidSchemas_areRefusedWithTheirPath() {
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":")).isInstanceOf(InvalidJsonSchemaException.class)
                .hasMessageStartingWith("schema is not valid JSON");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"int\"}}}"))
                .isInstanceOf(InvalidJsonSchemaException.class)
                .hasMessageStartingWith("#/properties/a/type: 'int'");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"$ref\":\"#/$defs/missing\"}"))
                .isInstanceOf(InvalidJsonSchemaException.class).hasMessageContaining("points to nothing");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}"))
                .isInstanceOf(InvalidJsonSchemaException.class).hasMessage("#: minItems 3 > maxItems 2");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"not\":{}}"))
                .isInstanceOf(InvalidJsonSchemaException.class).hasMessage("#: 'not' is not supported");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"enum\":[]}"))
                .isInstanceOf(InvalidJsonSchemaException.class);
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":\"object\",\"properties\":{},\"required\":[\"x\"]}"))
                .isInstanceOf(InvalidJsonSchemaException.class).hasMessageContaining("'x' is not among");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":\"integer\",\"minimum\":5,\"maximum\":1}"))
                .isInstanceOf(InvalidJsonSchemaException.class);
        assertThatThrownBy(() -> SchemaCompiler.compile("false")).isInstanceOf(InvalidJsonSchemaException.class);
    }
}
