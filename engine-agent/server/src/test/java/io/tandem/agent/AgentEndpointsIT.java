package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** LMDeploy/vLLM/SageMaker endpoints over raw HTTP, and the request lifecycle: disconnect, abort, sleep. */
@Timeout(120)
class AgentEndpointsIT {
    static final ObjectMapper JSON = new ObjectMapper();
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

    static JsonNode json(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    @Test
    void generate_returnsTextAndIds_streamingAgrees() throws Exception {
        JsonNode g = json(agent.post("/generate", "{\"prompt\":\"Once\",\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}"));
        assertThat(g.get("output_ids")).hasSize(6);
        assertThat(g.at("/meta_info/finish_reason/type").asText()).isEqualTo("length");
        JsonNode byIds = json(agent.post("/generate", "{\"input_ids\":" + json(agent.post("/v1/encode",
                "{\"input\":\"Once\"}")).get("input_ids") + ",\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}"));
        assertThat(byIds.get("output_ids")).isEqualTo(g.get("output_ids"));

        String sse = agent.post("/generate", "{\"prompt\":\"Once\",\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true,"
                + "\"stream\":true}").body();
        StringBuilder text = new StringBuilder();
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: {")) {
                text.append(JSON.readTree(line.substring(6)).get("text").asText());
            }
        }
        assertThat(sse.strip()).endsWith("data: [DONE]");
        assertThat(text.toString()).isEqualTo(g.get("text").asText());
    }

    @Test
    void tokenizeDetokenize_roundTrip_andInfo() throws Exception {
        JsonNode t = json(agent.post("/tokenize", "{\"prompt\":\"hello world\"}"));
        assertThat(t.get("count").asInt()).isEqualTo(t.get("tokens").size());
        JsonNode d = json(agent.post("/detokenize", "{\"tokens\":" + t.get("tokens") + "}"));
        assertThat(d.get("prompt").asText()).isEqualTo("hello world");
        assertThat(json(agent.get("/v1/models")).at("/data/0/id").asText()).isEqualTo("tandem-tiny");
        assertThat(json(agent.get("/version")).has("version")).isTrue();
        assertThat(json(agent.get("/load")).has("server_load")).isTrue();
        assertThat(agent.get("/ping").statusCode()).isEqualTo(200);
        assertThat(agent.post("/ping", "").statusCode()).isEqualTo(200);
        String metrics = agent.get("/metrics").body();
        assertThat(metrics).contains("vllm:num_requests_running", "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:prompt_tokens_total",
                "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_bucket",
                "vllm:inter_token_latency_seconds_bucket", "vllm:time_per_output_token_seconds_bucket",
                "vllm:e2e_request_latency_seconds_bucket");
    }

    @Test
    void invocations_routesByBodyShape() throws Exception {
        assertThat(json(agent.post("/invocations", "{\"messages\":\"hi\",\"max_tokens\":2}")).get("object").asText())
                .isEqualTo("chat.completion");
        assertThat(json(agent.post("/invocations", "{\"prompt\":\"hi\",\"max_tokens\":2}")).get("object").asText())
                .isEqualTo("text_completion");
        assertThat(agent.post("/invocations", "{\"x\":1}").statusCode()).isEqualTo(400);
    }

    @Test
    void clientDisconnectMidStream_abortsAndFreesBlocks() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest req = HttpRequest.newBuilder(URI.create(agent.base() + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\":\"a long story\",\"max_tokens\":900,\"ignore_eos\":true,\"stream\":true}")).build();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = r.body()) {
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (int i = 0; i < 3; i++) {
                assertThat(reader.readLine()).isNotNull();
            }
            assertThat(agent.metric("vllm:num_requests_running")).isEqualTo(1);
        }
        http.shutdownNow();
        await().atMost(Duration.ofSeconds(20)).until(agent::idle);
        assertThat(agent.metric("vllm:request_success_total")).isGreaterThanOrEqualTo(0);
    }

    @Test
    void abortRequest_bySessionId_endsTheStream() throws Exception {
        CompletableFuture<HttpResponse<String>> running = CompletableFuture.supplyAsync(() -> {
            try {
                return agent.post("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":1000,\"ignore_eos\":true,"
                        + "\"session_id\":77}");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        await().atMost(Duration.ofSeconds(20)).until(() -> agent.metric("vllm:num_requests_running") == 1);
        assertThat(agent.post("/abort_request", "{\"session_id\":77}").statusCode()).isEqualTo(200);
        JsonNode done = json(running.get());
        assertThat(done.at("/choices/0/finish_reason").asText()).isEqualTo("abort");
        await().atMost(Duration.ofSeconds(10)).until(agent::idle);
    }

    @Test
    void sleepWakeup_generationAnswers503WhileAsleep() throws Exception {
        JsonNode before = json(agent.post("/v1/completions", "{\"prompt\":\"sleepy\",\"max_tokens\":5,\"temperature\":0}"));
        assertThat(agent.post("/sleep?level=2", "").statusCode()).isEqualTo(200);
        assertThat(json(agent.get("/is_sleeping")).get("is_sleeping").asBoolean()).isTrue();
        HttpResponse<String> asleep = agent.post("/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":2}");
        assertThat(asleep.statusCode()).isEqualTo(503);
        assertThat(asleep.body()).contains("\"error\"");
        assertThat(agent.post("/sleep?level=3", "").statusCode()).isEqualTo(400);
        assertThat(agent.post("/wakeup?tags=bogus", "").statusCode()).isEqualTo(400);
        assertThat(agent.post("/wakeup?tags=weights&tags=kv_cache", "").statusCode()).isEqualTo(200);
        assertThat(json(agent.get("/is_sleeping")).get("is_sleeping").asBoolean()).isFalse();
        JsonNode after = json(agent.post("/v1/completions", "{\"prompt\":\"sleepy\",\"max_tokens\":5,\"temperature\":0}"));
        assertThat(after.at("/choices/0/text")).isEqualTo(before.at("/choices/0/text"));
        await().atMost(Duration.ofSeconds(10)).until(agent::idle);
    }

    @Test
    void terminate_withoutAdminKey_isForbidden() throws Exception {
        assertThat(agent.get("/terminate").statusCode()).isEqualTo(403);
    }
}
