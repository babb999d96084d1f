package io.tandem.agent;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * A validator for the JSON Schema keywords the structured-output tests use (type, properties, required,
 * additionalProperties: false, enum, minLength/maxLength, minimum/maximum, items, minItems/maxItems): independent of
 * the engine's schema compiler, so that a test does not grade the compiler with itself.
 */
final class JsonSchemaCheck {
    private JsonSchemaCheck() {
    }

    /** The violations of {@code value} against {@code schema}, each with its JSON pointer; empty = valid. */
    static List<String> violations(JsonNode schema, JsonNode value) {
        List<String> out = new ArrayList<>();
        check(schema, value, "", out);
        return out;
    }

    private static void check(JsonNode s, JsonNode v, String at, List<String> out) {
        if (s.has("enum")) {
            boolean found = false;
            for (JsonNode e : s.get("enum")) {
                found |= e.equals(v);
            }
            if (!found) {
                out.add(at + ": " + v + " not in " + s.get("enum"));
            }
        }
        if (s.has("type") && !hasType(v, s.get("type").asText())) {
            out.add(at + ": " + v + " is not of type " + s.get("type").asText());
            return;
        }
        if (v.isTextual()) {
            int len = v.asText().codePointCount(0, v.asText().length());
            if (s.has("minLength") && len < s.get("minLength").asInt() || s.has("maxLength") && len > s.get("maxLength").asInt()) {
                out.add(at + ": length " + len + " outside [" + s.path("minLength").asInt(0) + ", "
                        + s.path("maxLength").asText("inf") + "]");
            }
        }
        if (v.isNumber()) {
            if (s.has("minimum") && v.asDouble() < s.get("minimum").asDouble()
                    || s.has("maximum") && v.asDouble() > s.get("maximum").asDouble()) {
                out.add(at + ": " + v + " outside [" + s.get("minimum") + ", " + s.get("maximum") + "]");
            }
        }
        if (v.isArray()) {
            if (s.has("minItems") && v.size() < s.get("minItems").asInt() || s.has("maxItems") && v.size() > s.get("maxItems").asInt()) {
                out.add(at + ": " + v.size() + " items");
            }
            if (s.has("items")) {
                for (int i = 0; i < v.size(); i++) {
                    check(s.get("items"), v.get(i), at + "/" + i, out);
                }
            }
        }
        if (v.isObject()) {
            JsonNode props = s.path("properties");
            for (JsonNode r : s.path("required")) {
                if (!v.has(r.asText())) {
                    out.add(at + ": missing required '" + r.asText() + "'");
                }
            }
            for (Iterator<String> it = v.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (props.has(k)) {
                    check(props.get(k), v.get(k), at + "/" + k, out);
                } else if (s.path("additionalProperties").isBoolean() && !s.get("additionalProperties").asBoolean()) {
                    out.add(at + ": unexpected property '" + k + "'");
                }
            }
        }
    }

    private static boolean hasType(JsonNode v, String type) {
        return switch (type) {
            case "object" -> v.isObject();
            case "array" -> v.isArray();
            case "string" -> v.isTextual();
            case "integer" -> v.isIntegralNumber() || v.isNumber() && v.asDouble() == Math.rint(v.asDouble());
            case "number" -> v.isNumber();
            case "boolean" -> v.isBoolean();
            case "null" -> v.isNull();
            default -> throw new IllegalArgumentException("type " + type);
        };
    }
}
