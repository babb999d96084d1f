package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.weights.SafetensorsWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * RL weight updates: pushing model B's tensors into an agent serving model A makes it answer as an agent started
 * on B; a bad bucket is refused with 400 naming the tensor and leaves the outputs as they were; the weights version
 * ({@code /health}'s header, the answer's {@code weights_version}) follows the commits and a level-2 sleep.
 */
@Timeout(180)
class UpdateWeightsIT {
    static final ObjectMapper JSON = new ObjectMapper();
    // Token ids, not text: the generator's BPE merges depend on the seed, so the two models tokenize text
    // differently; the weights are what the update replaces.
    static final String REQ = "{\"input_ids\":[79,110,99,101,302,112,111,110],\"max_tokens\":12,\"temperature\":0,"
            + "\"ignore_eos\":true}";

    static String text(AgentProcess a) throws Exception {
        var r = a.post("/generate", REQ, "Authorization", "Bearer adm");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).get("output_ids").toString();
    }

    /** What {@code GET /health} says about the weights in use. */
    static String weightsVersion(AgentProcess a) throws Exception {
        return a.get("/health").headers().firstValue("X-Tandem-Weights-Version").orElseThrow();
    }

    /** The agent's version chain: SHA-256 over the previous version and each staged bucket's SHA-256, 16 hex. */
    static String versionAfter(String previous, byte[]... buckets) throws Exception {
        MessageDigest pending = MessageDigest.getInstance("SHA-256");
        for (byte[] b : buckets) {
            pending.update(MessageDigest.getInstance("SHA-256").digest(b));
        }
        MessageDigest next = MessageDigest.getInstance("SHA-256");
        next.update((previous + "\n").getBytes(StandardCharsets.UTF_8));
        next.update(pending.digest());
        return HexFormat.of().formatHex(next.digest(), 0, 8);
    }

    @Test
    void pushingModelB_makesOutputsEqualModelB_badBucketChangesNothing() throws Exception {
        Path a = AgentProcess.tinyModel(42);
        Path b = AgentProcess.tinyModel(7);
        String expectedB;
        try (AgentProcess onB = AgentProcess.start(b)) {
            expectedB = text(onB);
        }
        byte[] bucket;
        try (LoadedModel mb = LoadedModel.load(b)) {
            bucket = SafetensorsWriter.ofWeights(mb.weights(), mb.config(), SafetensorsWriter.Naming.GGUF).toByteArray();
        }
        try (AgentProcess agent = AgentProcess.start(a, "--admin-key", "adm")) {
            assertThat(weightsVersion(agent)).isEqualTo("base");
            String before = text(agent);
            assertThat(before).isNotEqualTo(expectedB);

            byte[] bad = new SafetensorsWriter().putF32("blk.0.attn_q.weight", new long[] {3, 3}, new float[9])
                    .toByteArray();
            var r = agent.post("/update_weights", JSON.writeValueAsString(Map.of("serialized_named_tensors",
                    Base64.getEncoder().encodeToString(bad), "finished", true)), "Authorization", "Bearer adm");
            assertThat(r.statusCode()).isEqualTo(400);
            assertThat(r.body()).contains("blk.0.attn_q.weight");
            assertThat(text(agent)).isEqualTo(before);
            assertThat(weightsVersion(agent)).as("a refused push changes no version").isEqualTo("base");

            assertThat(agent.post("/update_weights", "{\"finished\":true}").statusCode()).isEqualTo(401);
            r = agent.post("/update_weights", JSON.writeValueAsString(Map.of("serialized_named_tensors",
                    List.of(Base64.getEncoder().encodeToString(bucket)), "finished", false)), "Authorization", "Bearer adm");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(JSON.readTree(r.body()).get("staged_tensors").asInt()).as(r.body()).isGreaterThan(30);
            assertThat(text(agent)).as("staged, not committed").isEqualTo(before);
            assertThat(JSON.readTree(r.body()).get("weights_version").asText()).isEqualTo("base");
            r = agent.post("/update_weights", "{\"finished\":true}", "Authorization", "Bearer adm");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(text(agent)).isEqualTo(expectedB);
            // The version names the pushes: any agent given the same buckets from "base" reports the same one.
            String pushed = versionAfter("base", bucket);
            assertThat(JSON.readTree(r.body()).get("weights_version").asText()).isEqualTo(pushed);
            assertThat(weightsVersion(agent)).isEqualTo(pushed);
            await().atMost(Duration.ofSeconds(10)).until(agent::idle);
            // A level-2 sleep drops the pushed weights: they come from the model file again.
            assertThat(agent.post("/sleep?level=2", "", "Authorization", "Bearer adm").statusCode()).isEqualTo(200);
            assertThat(weightsVersion(agent)).isEqualTo("base");
            assertThat(agent.post("/wakeup", "", "Authorization", "Bearer adm").statusCode()).isEqualTo(200);
            assertThat(text(agent)).isEqualTo(before);
        }
    }
}
