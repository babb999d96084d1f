package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.ResponseFormatJsonObject;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code response_format} through a real agent: the random tiny model, left alone, never writes JSON, so output
 * that parses (and validates against the schema, checked by a validator independent of the engine's compiler)
 * shows the constraint at work, streaming and not. A schema the compiler refuses is a 400 naming response_format.
 */
@Timeout(180)
class StructuredOutputIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String SCHEMA = """
            {"type":"object",
             "properties":{
               "name":{"type":"string","minLength":1,"maxLength":8},
               "age":{"type":"integer","minimum":0,"maximum":120},
               "mood":{"enum":["happy","sad"]},
               "tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":2}},
             "required":["name","age","mood","tags"],
             "additionalProperties":false}""";
    static AgentProcess agent;

    @BeforeAll
    static void start() throws Exception {
        agent = AgentProcess.start(AgentProcess.tinyModel(42));
    }

    @AfterAll
    static void stop() throws Exception {
        if (agent != null) {
            agent.close();
        }
    }

    @AfterEach
    void leavesNothingBehind() {
        MetricsCheck.awaitIdle(agent);
    }

    private static String request(String responseFormat, boolean stream, long seed) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"Describe a person as JSON.\"}],\"max_tokens\":256,"
                + "\"temperature\":1.0,\"seed\":" + seed + ",\"stream\":" + stream + ",\"response_format\":"
                + responseFormat + "}";
    }

    private static String schemaFormat(String schema) {
        return "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\",\"strict\":true,\"schema\":" + schema + "}}";
    }

    @Test
    void freeText_isNotJson_soTheConstraintIsWhatMakesItParse() throws Exception {
        HttpResponse<String> r = agent.post("/v1/chat/completions", "{\"messages\":\"Describe a person as JSON.\","
                + "\"max_tokens\":16,\"temperature\":0}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        String text = JSON.readTree(r.body()).at("/choices/0/message/content").asText();
        assertThat(text).doesNotStartWith("{");
    }

    @Test
    void jsonObject_viaOpenAiSdk_outputParsesAsAnObject() throws Exception {
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(agent.base() + "/v1").apiKey("none").maxRetries(0)
                .timeout(Duration.ofSeconds(120)).build();
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model("tandem-tiny").addUserMessage("Describe a person as JSON.").maxCompletionTokens(256)
                .temperature(0.0).responseFormat(ResponseFormatJsonObject.builder().build()).build());
        ChatCompletion.Choice choice = c.choices().get(0);
        String content = choice.message().content().orElseThrow();
        assertThat(choice.finishReason().asString()).as(content).isEqualTo("stop");
        assertThat(JSON.readTree(content).isObject()).as(content).isTrue();
    }

    @Test
    void jsonSchema_nonStreaming_validatesAgainstTheSchema() throws Exception {
        JsonNode schema = JSON.readTree(SCHEMA);
        for (long seed = 1; seed <= 3; seed++) {
            HttpResponse<String> r = agent.post("/v1/chat/completions", request(schemaFormat(SCHEMA), false, seed));
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonNode choice = JSON.readTree(r.body()).at("/choices/0");
            String content = choice.at("/message/content").asText();
            assertThat(choice.get("finish_reason").asText()).as(content).isEqualTo("stop");
            assertThat(JsonSchemaCheck.violations(schema, JSON.readTree(content))).as(content).isEmpty();
        }
    }

    @Test
    void jsonSchema_streaming_concatenatedDeltasValidate() throws Exception {
        JsonNode schema = JSON.readTree(SCHEMA);
        HttpResponse<String> r = agent.post("/v1/chat/completions", request(schemaFormat(SCHEMA), true, 11));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        StringBuilder content = new StringBuilder();
        String finish = null;
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: {")) {
                JsonNode ch = JSON.readTree(line.substring(6)).at("/choices/0");
                if (ch.at("/delta/content").isTextual()) {
                    content.append(ch.at("/delta/content").asText());
                }
                if (ch.path("finish_reason").isTextual()) {
                    finish = ch.get("finish_reason").asText();
                }
            }
        }
        assertThat(r.body().strip()).endsWith("data: [DONE]");
        assertThat(finish).as(content.toString()).isEqualTo("stop");
        assertThat(JsonSchemaCheck.violations(schema, JSON.readTree(content.toString()))).as(content.toString()).isEmpty();
    }

    @Test
    void badSchema_is400NamingResponseFormat() throws Exception {
        for (String format : new String[] {
                schemaFormat("{\"type\":\"object\",\"not\":{\"type\":\"null\"}}"), // refused construct
                schemaFormat("{\"type\":\"wizard\"}"), // unknown type
                "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}", // no schema
                "{\"type\":\"yaml\"}"}) {
            HttpResponse<String> r = agent.post("/v1/chat/completions", request(format, false, 1));
            assertThat(r.statusCode()).as(format + " -> " + r.body()).isEqualTo(400);
            JsonNode error = JSON.readTree(r.body()).get("error");
            assertThat(error.get("param").asText()).as(r.body()).isEqualTo("response_format");
            assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
            assertThat(error.get("message").asText()).isNotBlank();
        }
        // the same agent still serves: bad input did not hurt the engine loop
        ObjectNode ok = (ObjectNode) JSON.readTree(request(schemaFormat(SCHEMA), false, 5));
        assertThat(agent.post("/v1/chat/completions", ok.toString()).statusCode()).isEqualTo(200);
    }
}
