package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

import com.anthropic.client.AnthropicClient;
import com.anthropic.client.okhttp.AnthropicOkHttpClient;
import com.anthropic.core.http.StreamResponse;
import com.anthropic.errors.NotFoundException;
import com.anthropic.models.messages.Message;
import com.anthropic.models.messages.MessageCreateParams;
import com.anthropic.models.messages.RawMessageStreamEvent;
import com.anthropic.models.messages.StopReason;
import com.anthropic.models.messages.TextBlock;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code POST /v1/messages} with the official anthropic-java SDK against a real agent behind a real proxy (hybrid
 * mode, the agent attached with --controller): greedy text equals the OpenAI route's, whole and streamed.
 */
@Timeout(120)
class AnthropicMessagesIT {
    static final String PROMPT = "Tell me about the sea";
    static Procs.Proc proxy;
    static Procs.Proc agent;
    static AnthropicClient anthropic;
    static OpenAIClient openai;

    @BeforeAll
    static void start() throws Exception {
        int grpc = Procs.freePort();
        proxy = Procs.proxy(0, List.of(), "--admin-key", "adm", "--api-keys", "k1", "--grpc-port", Integer.toString(grpc));
        agent = Procs.agent("--controller", "127.0.0.1:" + grpc);
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.get("/nodes/status", "Authorization", "Bearer adm")
                .body().contains("\"routable\":true"));
        anthropic = AnthropicOkHttpClient.builder().baseUrl(proxy.base()).apiKey("k1").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
        openai = OpenAIOkHttpClient.builder().baseUrl(proxy.base() + "/v1").apiKey("k1").maxRetries(0)
                .timeout(Duration.ofSeconds(60)).build();
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {proxy, agent}) {
            if (p != null) {
                p.close();
            }
        }
    }

    static MessageCreateParams params(int maxTokens) {
        return MessageCreateParams.builder().model("tandem-tiny").maxTokens(maxTokens).temperature(0.0)
                .system("You are terse.").addUserMessage(PROMPT).build();
    }

    static String openAiGreedy(int maxTokens) {
        return openai.chat().completions().create(ChatCompletionCreateParams.builder().model("tandem-tiny")
                        .addSystemMessage("You are terse.").addUserMessage(PROMPT).maxTokens(maxTokens).temperature(0.0)
                        .build())
                .choices().get(0).message().content().orElseThrow();
    }

    @Test
    void messages_equalOpenAiGreedyOutput_withUsageAndStopReason() {
        Message m = anthropic.messages().create(params(12));
        String text = m.content().stream().flatMap(b -> b.text().stream()).map(TextBlock::text)
                .collect(Collectors.joining());
        assertThat(text).isNotEmpty().isEqualTo(openAiGreedy(12));
        assertThat(m.id()).startsWith("msg_");
        assertThat(m.usage().outputTokens()).isPositive().isLessThanOrEqualTo(12);
        assertThat(m.usage().inputTokens()).isPositive();
        assertThat(m.stopReason()).contains(m.usage().outputTokens() == 12 ? StopReason.MAX_TOKENS : StopReason.END_TURN);
    }

    @Test
    void streamedMessages_equalOpenAiGreedyOutput() {
        StringBuilder text = new StringBuilder();
        StringBuilder kinds = new StringBuilder();
        try (StreamResponse<RawMessageStreamEvent> s = anthropic.messages().createStreaming(params(12))) {
            s.stream().forEach(e -> {
                e.messageStart().ifPresent(x -> kinds.append("start "));
                e.contentBlockDelta().ifPresent(d -> d.delta().text().ifPresent(t -> text.append(t.text())));
                e.messageDelta().ifPresent(d -> kinds.append("delta:").append(d.delta().stopReason().orElseThrow())
                        .append(':').append(d.usage().outputTokens()).append(' '));
                e.messageStop().ifPresent(x -> kinds.append("stop"));
            });
        }
        assertThat(text.toString()).isNotEmpty().isEqualTo(openAiGreedy(12));
        assertThat(kinds.toString()).startsWith("start delta:").endsWith("stop");
    }

    @Test
    void missingMaxTokens_is400InvalidRequest_andUnknownModel_is404NotFound() throws Exception {
        HttpResponse<String> r = proxy.post("/v1/messages",
                "{\"model\":\"tandem-tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "x-api-key", "k1");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("\"type\":\"error\"").contains("\"invalid_request_error\"").contains("max_tokens");

        assertThatThrownBy(() -> anthropic.messages().create(MessageCreateParams.builder().model("no-such-model")
                .maxTokens(4).addUserMessage("hi").build())).isInstanceOf(NotFoundException.class);
        r = proxy.post("/v1/messages", "{\"model\":\"no-such-model\",\"max_tokens\":4,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "x-api-key", "k1");
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.body()).contains("\"not_found_error\"");
    }

    @Test
    void wrongKey_is401AuthenticationError() throws Exception {
        HttpResponse<String> r = proxy.post("/v1/messages", "{\"model\":\"tandem-tiny\",\"max_tokens\":4,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "x-api-key", "wrong");
        assertThat(r.statusCode()).isEqualTo(401);
        assertThat(r.body()).startsWith("{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\"");
    }
}
