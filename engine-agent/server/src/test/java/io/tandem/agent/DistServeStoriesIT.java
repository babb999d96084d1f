package io.tandem.agent;

import static io.tandem.agent.DistServe.JSON;
import static io.tandem.agent.DistServe.ok;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tandem.agent.DistServe.Pair;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A real model through a prefill and a decode agent (UCX over TCP): the greedy continuation after migration
 * equals llama.cpp's reference text for every case of stories260K.reference.json.
 */
@Timeout(180)
class DistServeStoriesIT {
    @Test
    void decodeAfterMigration_matchesReferenceText() throws Exception {
        Path shared = Path.of(System.getProperty("tandem.shared.dir", "../shared"));
        Path model = shared.resolve("models/stories260K.gguf");
        Path reference = shared.resolve("models/stories260K.reference.json");
        assumeTrue(Files.exists(model) && Files.exists(reference), "stories260K.gguf not under " + shared);
        try (AgentProcess p = AgentProcess.startCompiled(model, DistServe.TCP, "--role", "prefill");
             AgentProcess d = AgentProcess.startCompiled(model, DistServe.TCP, "--role", "decode")) {
            Pair pair = new Pair("stories", p, d, null);
            DistServe.connect(p, d, pair.auth());
            for (JsonNode c : JSON.readTree(reference.toFile()).get("cases")) {
                String prompt = c.get("prompt").asText();
                ObjectNode request = JSON.createObjectNode().put("prompt", prompt)
                        .put("max_tokens", c.get("max_tokens").asInt()).put("temperature", 0);
                JsonNode pre = DistServe.prefill(pair, request, "/v1/completions");
                JsonNode got = ok(d.post("/v1/completions",
                        DistServe.withMigration(request, DistServe.migrationRequest(p, pre)).toString()));
                assertThat(prompt + got.at("/choices/0/text").asText()).as(prompt).isEqualTo(c.get("text").asText());
                DistServe.awaitNoBlocks(p, d);
            }
        }
    }
}
