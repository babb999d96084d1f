package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The OpenAI surface driven by the official openai-java SDK against a real agent on the tiny model. */
@Timeout(120)
class OpenAiApiIT {
    static AgentProcess agent;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        agent = AgentProcess.start(AgentProcess.tinyModel(42), "--api-keys", "k1,k2", "--admin-key", "adm",
                "--max-request-size", "1MB");
        client = client("k1");
    }

    static OpenAIClient client(String key) {
        return OpenAIOkHttpClient.builder().baseUrl(agent.base() + "/v1").apiKey(key).maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        if (agent != null) {
            agent.close();
        }
    }

    private static ChatCompletionCreateParams.Builder chat(String prompt, int maxTokens) {
        return ChatCompletionCreateParams.builder().model("tandem-tiny").addUserMessage(prompt)
                .maxCompletionTokens(maxTokens).temperature(0.0);
    }

    @Test
    void chat_greedyStreamingMatchesNonStreaming() {
        ChatCompletion c = client.chat().completions().create(chat("Hello there", 12).build());
        assertThat(c.choices()).hasSize(1);
        String full = c.choices().get(0).message().content().orElse("");
        assertThat(c.usage().orElseThrow().completionTokens()).isBetween(1L, 12L);

        StringBuilder streamed = new StringBuilder();
        List<String> finish = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(chat("Hello there", 12)
                .streamOptions(com.openai.models.chat.completions.ChatCompletionStreamOptions.builder()
                        .includeUsage(true).build()).build())) {
            s.stream().forEach(chunk -> chunk.choices().forEach(ch -> {
                ch.delta().content().ifPresent(streamed::append);
                ch.finishReason().ifPresent(f -> finish.add(f.asString()));
            }));
        }
        assertThat(streamed.toString()).isEqualTo(full);
        assertThat(finish).containsExactly(c.choices().get(0).finishReason().asString());
    }

    @Test
    void chat_nChoicesAndLogprobs() {
        ChatCompletion c = client.chat().completions().create(chat("Hi", 5).n(2).temperature(1.0).seed(7)
                .logprobs(true).topLogprobs(3).build());
        assertThat(c.choices()).hasSize(2);
        var lp = c.choices().get(0).logprobs().orElseThrow().content().orElseThrow();
        assertThat(lp).isNotEmpty();
        assertThat(lp.get(0).topLogprobs()).hasSize(3);
        assertThat(lp.get(0).logprob()).isLessThanOrEqualTo(0.0);
    }

    @Test
    void completions_logprobsAndEcho() {
        Completion c = client.completions().create(CompletionCreateParams.builder().model("tandem-tiny")
                .prompt("Once upon a time").maxTokens(6).temperature(0.0).logprobs(2).echo(true).build());
        var choice = c.choices().get(0);
        assertThat(choice.text()).startsWith("Once upon a time");
        var lp = choice.logprobs().orElseThrow();
        assertThat(lp.tokens().orElseThrow()).hasSize((int) c.usage().orElseThrow().completionTokens());
        assertThat(lp.topLogprobs().orElseThrow().get(0)).isNotNull();
    }

    @Test
    void completions_streamingConcatenatesToNonStreaming() {
        CompletionCreateParams p = CompletionCreateParams.builder().model("tandem-tiny").prompt("The cat")
                .maxTokens(10).temperature(0.0).build();
        String full = client.completions().create(p).choices().get(0).text();
        StringBuilder sb = new StringBuilder();
        try (StreamResponse<Completion> s = client.completions().createStreaming(p)) {
            s.stream().forEach(c -> c.choices().forEach(ch -> sb.append(ch.text())));
        }
        assertThat(sb.toString()).isEqualTo(full);
    }

    @Test
    void errors_haveOpenAiStatuses() throws Exception {
        assertThatThrownBy(() -> client.chat().completions().create(chat("x", 4).temperature(5000.0).build()))
                .isInstanceOfSatisfying(BadRequestException.class,
                        e -> assertThat(e.getMessage()).contains("temperature"));
        assertThatThrownBy(() -> client.chat().completions().create(chat("x", 4).model("no-such-model").build()))
                .isInstanceOf(NotFoundException.class);
        assertThatThrownBy(() -> client("wrong").chat().completions().create(chat("x", 4).build()))
                .isInstanceOf(UnauthorizedException.class);

        String k = "Bearer k1";
        var r = agent.post("/v1/chat/completions", "{\"messages\":\"hi\",\"max_tokens\":\"abc\"}", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(422);
        assertThat(r.body()).contains("\"param\":\"max_tokens\"");
        r = agent.post("/v1/chat/completions", "{\"messages\":\"hi\",\"top_p\":0}", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("\"param\":\"top_p\"");
        r = agent.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(400);
        r = agent.post("/v1/completions", "{\"prompt\":[99999999]}", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(400);
        r = agent.post("/v1/completions", "{not json", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(400);
        r = agent.post("/v1/completions", "{\"prompt\":\"" + "a".repeat(2_000_000) + "\"}", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(413);
        assertThat(r.body()).contains("\"error\"");
        r = agent.get("/no/such/route", "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.body()).contains("\"error\"");
        r = agent.post("/v1/completions", "{\"prompt\":\"" + "word ".repeat(1500) + "\",\"max_tokens\":4}",
                "Authorization", k);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("context_length_exceeded");
        assertThat(agent.get("/metrics").statusCode()).isEqualTo(200); // open without a key
        assertThat(agent.post("/sleep?level=1", "", "Authorization", k).statusCode()).isEqualTo(401); // needs admin
        await().atMost(Duration.ofSeconds(10)).until(agent::idle);
    }
}
