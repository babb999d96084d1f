package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code reasoning_content} through HTTP on models whose answers are scripted ({@link ScriptedModel}) so that
 * they really emit the think markers: one that opens its think block itself (Qwen3 style, with the generated
 * template, whose {@code enable_thinking=false} renders an empty think block), and one whose template opens it in
 * the prompt (DeepSeek-R1 style), where the answer only closes it.
 */
@Timeout(120)
class ReasoningIT {
    static final ObjectMapper JSON = new ObjectMapper();
    /** The generated template, but the generation prompt opens the think block unless enable_thinking is false. */
    static final String R1_TEMPLATE = """
            {%- for message in messages -%}
            {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}
            {{- '<|im_start|>assistant\\n' -}}
            {%- if not (enable_thinking is defined and enable_thinking is false) -%}
            {{- '<think>\\n' -}}
            {%- endif -%}
            {%- endif -%}""";
    static AgentProcess qwen;
    static AgentProcess r1;

    @BeforeAll
    static void start() throws Exception {
        qwen = AgentProcess.start(ScriptedModel.write("scripted-think", null,
                "Ċ", "<think>", "h", "m", "</think>", "o", "k", "<|im_end|>"));
        r1 = AgentProcess.start(ScriptedModel.write("scripted-r1", R1_TEMPLATE,
                "Ċ", "h", "m", "</think>", "o", "k", "<|im_end|>"));
    }

    @AfterAll
    static void stop() throws Exception {
        for (AgentProcess a : new AgentProcess[] {qwen, r1}) {
            if (a != null) {
                a.close();
            }
        }
    }

    private static JsonNode chat(AgentProcess agent, String extra) throws Exception {
        HttpResponse<String> r = agent.post("/v1/chat/completions",
                "{\"messages\":\"Think first.\",\"max_tokens\":20,\"temperature\":0" + extra + "}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    /** Streamed reasoning and content, in order of arrival, as "R:" and "C:" pieces. */
    private static String stream(AgentProcess agent, String extra) throws Exception {
        HttpResponse<String> r = agent.post("/v1/chat/completions",
                "{\"messages\":\"Think first.\",\"max_tokens\":20,\"temperature\":0,\"stream\":true" + extra + "}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body().strip()).endsWith("data: [DONE]");
        StringBuilder seen = new StringBuilder();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: {")) {
                JsonNode delta = JSON.readTree(line.substring(6)).at("/choices/0/delta");
                if (delta.path("reasoning_content").isTextual()) {
                    seen.append("R:").append(delta.get("reasoning_content").asText()).append(' ');
                }
                if (delta.path("content").isTextual() && !delta.get("content").asText().isEmpty()) {
                    seen.append("C:").append(delta.get("content").asText()).append(' ');
                }
            }
        }
        return seen.toString().strip();
    }

    @Test
    void modelOpensThinkBlock_reasoningSplitFromContent() throws Exception {
        JsonNode c = chat(qwen, "");
        assertThat(c.at("/choices/0/message/reasoning_content").asText()).isEqualTo("hm");
        assertThat(c.at("/choices/0/message/content").asText()).isEqualTo("ok");
        assertThat(c.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertThat(c.at("/usage/completion_tokens").asInt()).isEqualTo(7); // <think> h m </think> o k <|im_end|>
        assertThat(stream(qwen, "")).isEqualTo("R:h R:m C:o C:k");
        MetricsCheck.awaitIdle(qwen);
    }

    @Test
    void enableThinkingFalse_reachesTheTemplate() throws Exception {
        JsonNode on = chat(qwen, "");
        JsonNode off = chat(qwen, ",\"enable_thinking\":false");
        // the template renders an empty think block into the prompt; this scripted model thinks regardless
        assertThat(off.at("/usage/prompt_tokens").asInt()).isGreaterThan(on.at("/usage/prompt_tokens").asInt());
        assertThat(off.at("/choices/0/message/reasoning_content").asText()).isEqualTo("hm");
        assertThat(off.at("/choices/0/message/content").asText()).isEqualTo("ok");
        MetricsCheck.awaitIdle(qwen);
    }

    @Test
    void promptOpensThinkBlock_answerStartsInReasoning() throws Exception {
        JsonNode c = chat(r1, "");
        assertThat(c.at("/choices/0/message/reasoning_content").asText()).isEqualTo("hm");
        assertThat(c.at("/choices/0/message/content").asText()).isEqualTo("ok");
        assertThat(stream(r1, "")).isEqualTo("R:h R:m C:o C:k");

        // enable_thinking=false: no think block is opened, so the same tokens are all content
        JsonNode off = chat(r1, ",\"enable_thinking\":false");
        assertThat(off.at("/choices/0/message/reasoning_content").isMissingNode()
                || off.at("/choices/0/message/reasoning_content").isNull()).as(off.toString()).isTrue();
        assertThat(off.at("/choices/0/message/content").asText()).isEqualTo("hmok");
        MetricsCheck.awaitIdle(r1);
    }
}
