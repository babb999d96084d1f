package io.tandem.engine.structured;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.engine.errors.InvalidJsonSchemaException;
import io.tandem.engine.structured.JsonGrammar.AnyNode;
import io.tandem.engine.structured.JsonGrammar.ArrayNode;
import io.tandem.engine.structured.JsonGrammar.LiteralNode;
import io.tandem.engine.structured.JsonGrammar.Node;
import io.tandem.engine.structured.JsonGrammar.NumberNode;
import io.tandem.engine.structured.JsonGrammar.ObjectNode;
import io.tandem.engine.structured.JsonGrammar.RefNode;
import io.tandem.engine.structured.JsonGrammar.StringNode;
import io.tandem.engine.structured.JsonGrammar.UnionNode;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles the supported JSON Schema subset into {@link JsonGrammar} nodes.
 *
 * <p>Supported: {@code type} (one or a list), {@code properties}, {@code required}, {@code additionalProperties}
 * (false, true or a schema; <b>absent counts as false when {@code properties} is given</b>, as in OpenAI's strict
 * mode, so that a model cannot wander into invented members), {@code items}, {@code minItems}/{@code maxItems},
 * {@code minLength}/{@code maxLength}, {@code minimum}/{@code maximum}/{@code exclusiveMinimum}/
 * {@code exclusiveMaximum}, {@code enum}, {@code const}, {@code anyOf}/{@code oneOf} (oneOf is matched as anyOf),
 * a one-element {@code allOf}, {@code nullable}, {@code $ref} to {@code #/$defs/...} or {@code #/definitions/...}
 * (recursion allowed), and boolean schemas ({@code true}). Annotations ({@code title}, {@code description},
 * {@code default}, {@code examples}, ...) and {@code format}/{@code pattern} are ignored: the output is then valid
 * JSON of the right shape but the string format is not enforced. Constructs that would change validity in ways
 * the matcher cannot honour ({@code not}, {@code if}, multi-element {@code allOf}, {@code patternProperties},
 * {@code prefixItems}, {@code uniqueItems: true}, {@code $ref} elsewhere) are refused.
 */
final class SchemaCompiler {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> REFUSED = Set.of("not", "if", "then", "else", "patternProperties",
            "prefixItems", "dependentSchemas", "dependentRequired", "unevaluatedProperties", "unevaluatedItems",
            "contains", "propertyNames");

    private final JsonNode root;
    private final Map<String, Node> refs = new HashMap<>();

    private SchemaCompiler(JsonNode root) {
        this.root = root;
    }

    static Node compile(String schema) {
        JsonNode root;
        try {
            root = JSON.readTree(schema);
        } catch (JsonProcessingException e) {
            throw new InvalidJsonSchemaException("schema is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || root.isMissingNode()) {
            throw new InvalidJsonSchemaException("schema is empty");
        }
        SchemaCompiler c = new SchemaCompiler(root);
        Node n = c.node(root, "#");
        // Resolve every reference now, so that a dangling one fails here rather than during generation.
        boolean more = true;
        while (more) { // resolving one reference may reveal others
            more = false;
            for (var e : List.copyOf(c.refs.entrySet())) {
                if (e.getValue() == null) {
                    c.target(e.getKey());
                    more = true;
                }
            }
        }
        return n;
    }

    private Node node(JsonNode s, String path) {
        if (s.isBoolean()) {
            if (!s.booleanValue()) {
                throw new InvalidJsonSchemaException(path + ": schema 'false' accepts no value");
            }
            return AnyNode.INSTANCE;
        }
        if (!s.isObject()) {
            throw new InvalidJsonSchemaException(path + ": " + s + " (expected: a schema object)");
        }
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (REFUSED.contains(k)) {
                throw new InvalidJsonSchemaException(path + ": '" + k + "' is not supported");
            }
        }
        if (s.has("uniqueItems") && s.get("uniqueItems").asBoolean(false)) {
            throw new InvalidJsonSchemaException(path + ": 'uniqueItems: true' is not supported");
        }
        Node n = nodeWithoutNullable(s, path);
        if (s.path("nullable").asBoolean(false)) {
            n = new UnionNode(new Node[] {n, LiteralNode.of(List.of("null"))});
        }
        return n;
    }

    private Node nodeWithoutNullable(JsonNode s, String path) {
        if (s.has("$ref")) {
            return ref(s.get("$ref"), path);
        }
        if (s.has("const")) {
            return LiteralNode.of(List.of(canonical(s.get("const"))));
        }
        if (s.has("enum")) {
            JsonNode e = s.get("enum");
            if (!e.isArray() || e.isEmpty()) {
                throw new InvalidJsonSchemaException(path + "/enum: " + e + " (expected: a non-empty array)");
            }
            List<String> values = new ArrayList<>();
            e.forEach(v -> values.add(canonical(v)));
            return LiteralNode.of(values);
        }
        for (String k : List.of("anyOf", "oneOf")) {
            if (s.has(k)) {
                JsonNode alts = s.get(k);
                if (!alts.isArray() || alts.isEmpty()) {
                    throw new InvalidJsonSchemaException(path + "/" + k + ": " + alts
                            + " (expected: a non-empty array of schemas)");
                }
                Node[] nodes = new Node[alts.size()];
                for (int i = 0; i < nodes.length; i++) {
                    nodes[i] = node(merged(s, alts.get(i), k), path + "/" + k + "/" + i);
                }
                return nodes.length == 1 ? nodes[0] : new UnionNode(nodes);
            }
        }
        if (s.has("allOf")) {
            JsonNode all = s.get("allOf");
            if (!all.isArray() || all.size() != 1) {
                throw new InvalidJsonSchemaException(path + "/allOf: only a single schema is supported");
            }
            return node(merged(s, all.get(0), "allOf"), path + "/allOf/0");
        }
        JsonNode type = s.get("type");
        if (type == null) {
            if (s.has("properties") || s.has("additionalProperties") || s.has("required")) {
                return object(s, path);
            }
            if (s.has("items") || s.has("minItems") || s.has("maxItems")) {
                return array(s, path);
            }
            if (s.has("minLength") || s.has("maxLength")) {
                return string(s, path);
            }
            return AnyNode.INSTANCE;
        }
        if (type.isTextual()) {
            return typed(type.asText(), s, path);
        }
        if (type.isArray() && !type.isEmpty()) {
            Node[] nodes = new Node[type.size()];
            for (int i = 0; i < nodes.length; i++) {
                if (!type.get(i).isTextual()) {
                    throw new InvalidJsonSchemaException(path + "/type: " + type + " (expected: type names)");
                }
                nodes[i] = typed(type.get(i).asText(), s, path);
            }
            return nodes.length == 1 ? nodes[0] : new UnionNode(nodes);
        }
        throw new InvalidJsonSchemaException(path + "/type: " + type + " (expected: a type name or a list of them)");
    }

    /** An alternative with the parent's other keywords (e.g. a shared "type") folded in. */
    private static JsonNode merged(JsonNode parent, JsonNode alternative, String without) {
        if (!alternative.isObject()) {
            return alternative;
        }
        var m = JSON.createObjectNode();
        parent.fields().forEachRemaining(e -> {
            if (!e.getKey().equals(without) && !e.getKey().equals("nullable")) {
                m.set(e.getKey(), e.getValue());
            }
        });
        alternative.fields().forEachRemaining(e -> m.set(e.getKey(), e.getValue()));
        return m;
    }

    private Node typed(String type, JsonNode s, String path) {
        return switch (type) {
            case "object" -> object(s, path);
            case "array" -> array(s, path);
            case "string" -> string(s, path);
            case "integer" -> number(s, path, true);
            case "number" -> number(s, path, false);
            case "boolean" -> LiteralNode.of(List.of("true", "false"));
            case "null" -> LiteralNode.of(List.of("null"));
            default -> throw new InvalidJsonSchemaException(path + "/type: '" + type
                    + "' (expected: object, array, string, integer, number, boolean or null)");
        };
    }

    private Node object(JsonNode s, String path) {
        JsonNode props = s.path("properties");
        if (!props.isMissingNode() && !props.isObject()) {
            throw new InvalidJsonSchemaException(path + "/properties: " + props + " (expected: an object)");
        }
        List<String> names = new ArrayList<>();
        List<Node> schemas = new ArrayList<>();
        props.fields().forEachRemaining(e -> {
            names.add(e.getKey());
            schemas.add(node(e.getValue(), path + "/properties/" + e.getKey()));
        });
        if (names.size() > 64) {
            throw new InvalidJsonSchemaException(path + "/properties: " + names.size()
                    + " properties (expected: at most 64)");
        }
        long required = 0;
        JsonNode req = s.path("required");
        if (!req.isMissingNode()) {
            if (!req.isArray()) {
                throw new InvalidJsonSchemaException(path + "/required: " + req + " (expected: an array of names)");
            }
            for (JsonNode r : req) {
                int i = names.indexOf(r.asText());
                if (i < 0) {
                    throw new InvalidJsonSchemaException(path + "/required: '" + r.asText()
                            + "' is not among the properties " + names);
                }
                required |= 1L << i;
            }
        }
        JsonNode add = s.get("additionalProperties");
        Node additional;
        if (add == null) {
            additional = names.isEmpty() ? AnyNode.INSTANCE : null;
        } else if (add.isBoolean()) {
            additional = add.booleanValue() ? AnyNode.INSTANCE : null;
        } else {
            additional = node(add, path + "/additionalProperties");
        }
        return new ObjectNode(names.toArray(String[]::new), schemas.toArray(Node[]::new), required, additional);
    }

    private Node array(JsonNode s, String path) {
        JsonNode items = s.get("items");
        Node item = items == null ? AnyNode.INSTANCE : node(items, path + "/items");
        int min = count(s, "minItems", 0, path);
        int max = count(s, "maxItems", Integer.MAX_VALUE, path);
        if (min > max) {
            throw new InvalidJsonSchemaException(path + ": minItems " + min + " > maxItems " + max);
        }
        return new ArrayNode(item, min, max);
    }

    private Node string(JsonNode s, String path) {
        int min = count(s, "minLength", 0, path);
        int max = count(s, "maxLength", Integer.MAX_VALUE, path);
        if (min > max) {
            throw new InvalidJsonSchemaException(path + ": minLength " + min + " > maxLength " + max);
        }
        return new StringNode(min, max);
    }

    private Node number(JsonNode s, String path, boolean integer) {
        BigDecimal min = decimal(s, "minimum", path);
        BigDecimal max = decimal(s, "maximum", path);
        boolean exMin = false;
        boolean exMax = false;
        JsonNode em = s.get("exclusiveMinimum");
        if (em != null && em.isBoolean()) { // draft 4: a flag on minimum
            exMin = em.booleanValue();
        } else if (em != null) {
            BigDecimal v = decimal(s, "exclusiveMinimum", path);
            if (min == null || v.compareTo(min) >= 0) {
                min = v;
                exMin = true;
            }
        }
        JsonNode ex = s.get("exclusiveMaximum");
        if (ex != null && ex.isBoolean()) {
            exMax = ex.booleanValue();
        } else if (ex != null) {
            BigDecimal v = decimal(s, "exclusiveMaximum", path);
            if (max == null || v.compareTo(max) <= 0) {
                max = v;
                exMax = true;
            }
        }
        if (min != null && max != null && (min.compareTo(max) > 0 || (min.compareTo(max) == 0 && (exMin || exMax)))) {
            throw new InvalidJsonSchemaException(path + ": no number lies between minimum " + min + " and maximum " + max);
        }
        return new NumberNode(integer, min, exMin, max, exMax);
    }

    private static int count(JsonNode s, String key, int absent, String path) {
        JsonNode v = s.get(key);
        if (v == null) {
            return absent;
        }
        if (!v.isIntegralNumber() || v.asLong() < 0 || v.asLong() > Integer.MAX_VALUE) {
            throw new InvalidJsonSchemaException(path + "/" + key + ": " + v + " (expected: a non-negative integer)");
        }
        return v.asInt();
    }

    private static BigDecimal decimal(JsonNode s, String key, String path) {
        JsonNode v = s.get(key);
        if (v == null) {
            return null;
        }
        if (!v.isNumber()) {
            throw new InvalidJsonSchemaException(path + "/" + key + ": " + v + " (expected: a number)");
        }
        return v.decimalValue();
    }

    private Node ref(JsonNode ref, String path) {
        if (!ref.isTextual()) {
            throw new InvalidJsonSchemaException(path + "/$ref: " + ref + " (expected: a string)");
        }
        String r = ref.asText();
        if (!r.startsWith("#/$defs/") && !r.startsWith("#/definitions/") && !r.equals("#")) {
            throw new InvalidJsonSchemaException(path + "/$ref: '" + r
                    + "' (expected: '#', '#/$defs/name' or '#/definitions/name')");
        }
        refs.putIfAbsent(r, null);
        return new RefNode(() -> target(r));
    }

    private Node target(String r) {
        Node n = refs.get(r);
        if (n != null) {
            return n;
        }
        JsonNode t = root;
        if (!r.equals("#")) {
            for (String part : r.substring(2).split("/")) {
                t = t.path(part.replace("~1", "/").replace("~0", "~"));
            }
        }
        if (t.isMissingNode()) {
            throw new InvalidJsonSchemaException("$ref '" + r + "' points to nothing in the schema");
        }
        // A recursive schema reaches itself through another RefNode, which resolves lazily, so this terminates.
        n = node(t, r);
        refs.put(r, n);
        return n;
    }

    /** The compact JSON text of an enum/const value, as the model must write it. */
    private static String canonical(JsonNode v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new InvalidJsonSchemaException("cannot serialize " + v, e);
        }
    }
}
