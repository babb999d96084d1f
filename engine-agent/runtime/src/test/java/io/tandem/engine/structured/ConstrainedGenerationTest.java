package io.tandem.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.engine.errors.InvalidJsonSchemaException;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.sampling.FinishReason;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.EngineConfig;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.testing.TestModels;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Constrained generation on the generated tiny model: its weights are random, so whatever it produces is the
 * constraint's doing, and sampling at temperature 1 explores many paths through the grammar.
 */
class ConstrainedGenerationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static LoadedModel tiny;
    private static Engine engine;

    static final String PERSON = """
            {"type": "object",
             "properties": {
               "name": {"type": "string", "minLength": 1, "maxLength": 8},
               "age": {"type": "integer", "minimum": 0, "maximum": 120},
               "score": {"type": "number", "minimum": -1, "maximum": 1},
               "role": {"enum": ["admin", "user", "guest"]},
               "active": {"type": "boolean"},
               "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 1, "maxItems": 3},
               "address": {"type": ["object", "null"],
                           "properties": {"city": {"type": "string", "maxLength": 5}, "zip": {"const": "12345"}},
                           "required": ["city", "zip"]}
             },
             "required": ["name", "age", "score", "role", "active", "tags", "address"],
             "$defs": {"tag": {"anyOf": [{"type": "string", "maxLength": 4}, {"type": "integer", "maximum": 9}]}}}""";

    @BeforeAll
    static void start() {
        tiny = LoadedModel.load(TestModels.tiny(GgmlType.F32));
        engine = new Engine(tiny, EngineConfig.defaults().withKvBlocks(128).withBlockSize(16).withThreads(2));
    }

    @AfterAll
    static void stop() {
        engine.close();
        tiny.close();
    }

    /** Delegates, and records how many tokens each mask left allowed. */
    private static final class Counting implements TokenConstraint {
        final TokenConstraint inner;
        final List<Integer> allowed = new ArrayList<>();
        long maskNanos;

        Counting(TokenConstraint inner) {
            this.inner = inner;
        }

        @Override
        public void apply(float[] logits, int offset, int vocabSize) {
            long t0 = System.nanoTime();
            inner.apply(logits, offset, vocabSize);
            maskNanos += System.nanoTime() - t0;
            int n = 0;
            for (int i = 0; i < vocabSize; i++) {
                if (logits[offset + i] != Float.NEGATIVE_INFINITY) {
                    n++;
                }
            }
            allowed.add(n);
        }

        @Override
        public void accept(int token) {
            inner.accept(token);
        }

        @Override
        public boolean isComplete() {
            return inner.isComplete();
        }
    }

    private static GenerationResult run(String id, TokenConstraint c, long seed, int maxTokens) {
        int[] prompt = tiny.tokenizer().encode("Give me JSON:", false, false);
        SamplingParams p = SamplingParams.builder().temperature(1).seed(seed).maxTokens(maxTokens).build();
        return engine.generate(GenerationRequest.of(id, prompt, p).withMask(c));
    }

    @Test
    void jsonSchema_atTemperatureOne_producesValidJsonForEverySeed() throws Exception {
        JsonNode schema = JSON.readTree(PERSON);
        for (long seed = 1; seed <= 6; seed++) {
            Counting c = new Counting(JsonConstraints.forJsonSchema(tiny.tokenizer(), PERSON));
            GenerationResult r = run("schema-" + seed, c, seed, 400);
            assertThat(r.error()).as("seed %d", seed).isNull();
            assertThat(r.finishReason()).as("seed %d: %s", seed, r.text()).isEqualTo(FinishReason.STOP);
            assertThat(c.isComplete()).isTrue();
            assertThat(c.allowed).as("allowed tokens per step").allMatch(n -> n > 0);
            JsonNode value = JSON.readTree(r.text());
            List<String> problems = new ArrayList<>();
            validate(schema, schema, value, "$", problems);
            assertThat(problems).as("seed %d: %s", seed, r.text()).isEmpty();
        }
    }

    @Test
    void jsonObjectMode_producesAnObject() throws Exception {
        int finished = 0;
        for (long seed = 1; seed <= 6; seed++) {
            Counting c = new Counting(JsonConstraints.forJsonObject(tiny.tokenizer()));
            GenerationResult r = run("object-" + seed, c, seed, 300);
            assertThat(r.error()).isNull();
            assertThat(c.allowed).allMatch(n -> n > 0);
            assertThat(r.text()).startsWith("{");
            if (r.finishReason() == FinishReason.STOP) {
                assertThat(JSON.readTree(r.text()).isObject()).as(r.text()).isTrue();
                finished++;
            }
        }
        // Random weights pick among thousands of tokens inside a string, so a few runs may hit max_tokens first.
        assertThat(finished).isGreaterThanOrEqualTo(3);
    }

    @Test
    void invalidSchema_isRefused() {
        assertThatThrownBy(() -> JsonConstraints.forJsonSchema(tiny.tokenizer(), "{\"type\": \"objekt\"}"))
                .isInstanceOf(InvalidJsonSchemaException.class).hasMessageContaining("'objekt'");
    }

    @Test
    void maskTime_onA32kVocabulary() {
        ModelSpec spec = new ModelSpec("vocab32k", 64, 1, 2, 2, 128, 32000, 512, GgmlType.F32, false, 5);
        try (LoadedModel m = LoadedModel.load(TestModels.generated(spec, "vocab32k.gguf"))) {
            long t0 = System.nanoTime();
            TokenConstraint c = JsonConstraints.forJsonSchema(m.tokenizer(), PERSON);
            long build = System.nanoTime() - t0;
            float[] logits = new float[32000];
            // States: the start, inside a free string, inside the key choice, inside a number.
            // The last one is json_object mode inside a value string: no length limit, the widest mask.
            String[] prefixes = {"", "{\"name\":\"ab", "{\"name\":\"a\",\"", "{\"name\":\"a\",\"age\":1",
                    "{\"k\":\"ab"};
            StringBuilder report = new StringBuilder("trie build + compile " + build / 1_000_000 + " ms;");
            for (String prefix : prefixes) {
                TokenConstraint k = prefix.startsWith("{\"k\"") ? JsonConstraints.forJsonObject(m.tokenizer())
                        : JsonConstraints.forJsonSchema(m.tokenizer(), PERSON);
                for (int id : m.tokenizer().encode(prefix, false, false)) {
                    k.accept(id);
                }
                for (int i = 0; i < 300; i++) { // warm up (the JIT compiles the walk)
                    k.apply(logits, 0, 32000);
                }
                int reps = 200;
                long s = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    k.apply(logits, 0, 32000);
                }
                report.append(String.format(" '%s': %.2f ms", prefix, (System.nanoTime() - s) / 1e6 / reps));
            }
            System.out.println("[mask time, 32k vocab] " + report);
            assertThat(c.isComplete()).isFalse();
        }
    }

    // ------------------------------------------------------------ a validator for the subset the test uses

    private static void validate(JsonNode root, JsonNode s, JsonNode v, String at, List<String> problems) {
        if (s.has("$ref")) {
            String[] parts = s.get("$ref").asText().substring(2).split("/");
            JsonNode t = root;
            for (String p : parts) {
                t = t.get(p);
            }
            validate(root, t, v, at, problems);
            return;
        }
        if (s.has("anyOf")) {
            for (JsonNode alt : s.get("anyOf")) {
                List<String> sub = new ArrayList<>();
                validate(root, alt, v, at, sub);
                if (sub.isEmpty()) {
                    return;
                }
            }
            problems.add(at + ": matches no anyOf alternative");
            return;
        }
        if (s.has("enum")) {
            boolean any = false;
            for (JsonNode e : s.get("enum")) {
                any |= e.equals(v);
            }
            if (!any) {
                problems.add(at + ": not in enum");
            }
            return;
        }
        if (s.has("const") && !s.get("const").equals(v)) {
            problems.add(at + ": not the const");
            return;
        }
        if (s.has("type")) {
            List<String> types = new ArrayList<>();
            if (s.get("type").isArray()) {
                s.get("type").forEach(t -> types.add(t.asText()));
            } else {
                types.add(s.get("type").asText());
            }
            String actual = v.isObject() ? "object" : v.isArray() ? "array" : v.isTextual() ? "string"
                    : v.isIntegralNumber() ? "integer" : v.isNumber() ? "number" : v.isBoolean() ? "boolean" : "null";
            boolean ok = types.contains(actual) || (actual.equals("integer") && types.contains("number"));
            if (!ok) {
                problems.add(at + ": " + actual + " is not " + types);
                return;
            }
        }
        if (v.isObject()) {
            JsonNode props = s.path("properties");
            for (JsonNode r : s.path("required")) {
                if (!v.has(r.asText())) {
                    problems.add(at + ": missing " + r.asText());
                }
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!props.has(e.getKey())) {
                    problems.add(at + ": unexpected " + e.getKey());
                } else {
                    validate(root, props.get(e.getKey()), e.getValue(), at + "." + e.getKey(), problems);
                }
            }
        } else if (v.isArray()) {
            if (v.size() < s.path("minItems").asInt(0) || v.size() > s.path("maxItems").asInt(Integer.MAX_VALUE)) {
                problems.add(at + ": " + v.size() + " items");
            }
            for (int i = 0; i < v.size(); i++) {
                validate(root, s.path("items"), v.get(i), at + "[" + i + "]", problems);
            }
        } else if (v.isTextual()) {
            int len = v.asText().codePointCount(0, v.asText().length());
            if (len < s.path("minLength").asInt(0) || len > s.path("maxLength").asInt(Integer.MAX_VALUE)) {
                problems.add(at + ": length " + len);
            }
        } else if (v.isNumber()) {
            if (s.has("minimum") && v.decimalValue().compareTo(s.get("minimum").decimalValue()) < 0
                    || s.has("maximum") && v.decimalValue().compareTo(s.get("maximum").decimalValue()) > 0) {
                problems.add(at + ": " + v + " out of range");
            }
        }
    }
}
