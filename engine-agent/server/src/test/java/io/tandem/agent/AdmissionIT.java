package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.NotFoundException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.completions.CompletionCreateParams;
import io.tandem.agent.metrics.PrometheusText;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Requests the agent must refuse, each with its status and an OpenAI-style body, and without leaking: 429 when the
 * waiting queue is full, 413 over the body limit, 401 without or with a wrong key, 404 for an unknown model or
 * route. One agent with one running slot, one waiting slot, an API key and a 64 KB body limit; /metrics idle and
 * well-formed after each test.
 */
@Timeout(120)
class AdmissionIT {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String KEY = "Bearer k1";
    static AgentProcess agent;

    @BeforeAll
    static void start() throws Exception {
        agent = AgentProcess.start(AgentProcess.tinyModel(42), "--api-keys", "k1", "--max-running", "1",
                "--max-waiting", "1", "--max-request-size", "64KB");
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

    static OpenAIClient client(String key) {
        return OpenAIOkHttpClient.builder().baseUrl(agent.base() + "/v1").apiKey(key).maxRetries(0)
                .timeout(Duration.ofSeconds(30)).build();
    }

    static void assertOpenAiError(HttpResponse<String> r, int status, String type, String code) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertThat(e).as(r.body()).isNotNull();
        assertThat(e.get("message").asText()).isNotBlank();
        assertThat(e.get("type").asText()).isEqualTo(type);
        assertThat(e.get("code").asText()).isEqualTo(code);
    }

    private static CompletableFuture<HttpResponse<String>> longRequest() {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return agent.post("/v1/completions", "{\"prompt\":\"a long story\",\"max_tokens\":900,"
                        + "\"ignore_eos\":true}", "Authorization", KEY);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    void queueFull_floodGets429WithOpenAiBody_andAcceptedRequestsFinish() throws Exception {
        CompletableFuture<HttpResponse<String>> running = longRequest();
        await().atMost(Duration.ofSeconds(20)).until(() -> agent.metric("vllm:num_requests_running") == 1);
        CompletableFuture<HttpResponse<String>> waiting = longRequest();
        await().atMost(Duration.ofSeconds(20)).until(() -> agent.metric("vllm:num_requests_waiting") == 1);

        // the flood: every further request finds the one waiting slot taken
        HttpClient http = HttpClient.newHttpClient();
        List<CompletableFuture<HttpResponse<String>>> flood = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            flood.add(http.sendAsync(HttpRequest.newBuilder(URI.create(agent.base() + "/v1/chat/completions"))
                    .header("Authorization", KEY).header("Content-Type", "application/json")
                    .timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":\"hi\",\"max_tokens\":4,\"n\":" + (1 + i % 2) + "}"))
                    .build(), HttpResponse.BodyHandlers.ofString()));
        }
        for (CompletableFuture<HttpResponse<String>> f : flood) {
            HttpResponse<String> r = f.get();
            assertOpenAiError(r, 429, "rate_limit_error", "queue_full");
            assertThat(r.headers().firstValue("Retry-After")).isPresent();
        }
        assertThatThrownBy(() -> client("k1").completions().create(CompletionCreateParams.builder()
                .model("tandem-tiny").prompt("x").maxTokens(2).build())).isInstanceOf(RateLimitException.class);
        http.close();

        assertThat(agent.post("/abort_request", "{\"abort_all\":true}", "Authorization", KEY).statusCode()).isEqualTo(200);
        for (CompletableFuture<HttpResponse<String>> f : List.of(running, waiting)) {
            HttpResponse<String> r = f.get();
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(JSON.readTree(r.body()).at("/choices/0/finish_reason").asText()).isEqualTo("abort");
        }
        PrometheusText m = MetricsCheck.awaitIdle(agent);
        assertThat(m.value("vllm:request_success_total", "finished_reason", "abort")).isGreaterThanOrEqualTo(2);
        // the refused requests never reached the engine: nothing of theirs is counted or held
        assertThat(agent.post("/v1/completions", "{\"prompt\":\"after\",\"max_tokens\":3}", "Authorization", KEY)
                .statusCode()).isEqualTo(200);
    }

    @Test
    void bodyOverTheLimit_is413_withOrWithoutContentLength() throws Exception {
        String big = "{\"prompt\":\"" + "a".repeat(100_000) + "\",\"max_tokens\":2}";
        assertOpenAiError(agent.post("/v1/completions", big, "Authorization", KEY), 413, "invalid_request_error",
                "request_too_large");
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> chunked = http.send(HttpRequest.newBuilder(URI.create(agent.base() + "/v1/completions"))
                .header("Authorization", KEY).header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofInputStream(
                        () -> new ByteArrayInputStream(big.getBytes(StandardCharsets.UTF_8)))).build(),
                HttpResponse.BodyHandlers.ofString());
        http.close();
        assertOpenAiError(chunked, 413, "invalid_request_error", "request_too_large");
        assertThat(agent.post("/v1/completions", "{\"prompt\":\"small\",\"max_tokens\":2}", "Authorization", KEY)
                .statusCode()).isEqualTo(200);
    }

    @Test
    void missingOrWrongKey_is401_probesStayOpen() throws Exception {
        String body = "{\"messages\":\"hi\",\"max_tokens\":2}";
        assertOpenAiError(agent.post("/v1/chat/completions", body), 401, "authentication_error", "invalid_api_key");
        assertOpenAiError(agent.post("/v1/chat/completions", body, "Authorization", "Bearer nope"), 401,
                "authentication_error", "invalid_api_key");
        assertOpenAiError(agent.post("/v1/chat/completions", body, "Authorization", "Basic azE6"), 401,
                "authentication_error", "invalid_api_key");
        assertOpenAiError(agent.get("/v1/models"), 401, "authentication_error", "invalid_api_key");
        assertThatThrownBy(() -> client("nope").models().list()).isInstanceOf(UnauthorizedException.class);
        assertThat(agent.post("/v1/chat/completions", body, "Authorization", KEY).statusCode()).isEqualTo(200);
        for (String open : List.of("/health", "/ping", "/metrics", "/version", "/load")) {
            assertThat(agent.get(open).statusCode()).as(open).isEqualTo(200);
        }
    }

    @Test
    void unknownModelOrRoute_is404() throws Exception {
        assertOpenAiError(agent.post("/v1/chat/completions", "{\"model\":\"gpt-9\",\"messages\":\"hi\"}",
                "Authorization", KEY), 404, "invalid_request_error", "model_not_found");
        assertOpenAiError(agent.post("/v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"hi\"}",
                "Authorization", KEY), 404, "invalid_request_error", "model_not_found");
        assertThatThrownBy(() -> client("k1").completions().create(CompletionCreateParams.builder()
                .model("gpt-9").prompt("x").maxTokens(2).build())).isInstanceOf(NotFoundException.class);
        assertOpenAiError(agent.get("/v2/nothing", "Authorization", KEY), 404, "not_found_error", "not_found");
        assertOpenAiError(agent.post("/v1/nothing", "{}", "Authorization", KEY), 404, "not_found_error", "not_found");
    }
}
