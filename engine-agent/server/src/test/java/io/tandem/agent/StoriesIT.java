package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A real model's greedy output through /v1/completions equals llama.cpp's reference continuation. */
@Timeout(120)
class StoriesIT {
    @Test
    void completions_temperatureZero_matchesReference() throws Exception {
        Path shared = Path.of(System.getProperty("tandem.shared.dir", "../shared"));
        Path model = shared.resolve("models/stories260K.gguf");
        Path reference = shared.resolve("models/stories260K.reference.json");
        assumeTrue(Files.exists(model) && Files.exists(reference), "stories260K.gguf not under " + shared);
        ObjectMapper json = new ObjectMapper();
        JsonNode first = json.readTree(reference.toFile()).get("cases").get(0);
        String prompt = first.get("prompt").asText();
        try (AgentProcess agent = AgentProcess.start(model)) {
            String body = json.writeValueAsString(json.createObjectNode().put("prompt", prompt)
                    .put("max_tokens", first.get("max_tokens").asInt()).put("temperature", 0));
            var r = agent.post("/v1/completions", body);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            String text = json.readTree(r.body()).at("/choices/0/text").asText();
            assertThat(prompt + text).isEqualTo(first.get("text").asText());
        }
    }
}
