package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** The non-streaming chat answer ({@code object: chat.completion}). */
public record ChatCompletion(String id, String object, long created, String model, List<Choice> choices,
                             Usage usage, List<Integer> promptTokenIds) {

    /**
     * @param tokenIds generated ids, with {@code return_token_ids}
     */
    public record Choice(int index, Message message,
                         @JsonInclude(JsonInclude.Include.ALWAYS) ChatLogprobs logprobs,
                         @JsonInclude(JsonInclude.Include.ALWAYS) String finishReason,
                         Object stopReason, List<Integer> tokenIds) {
    }

    public record Message(String role, @JsonInclude(JsonInclude.Include.ALWAYS) String content,
                          String reasoningContent, @JsonInclude(JsonInclude.Include.ALWAYS) String refusal) {
    }

    /** OpenAI's chat logprobs: one entry per generated token. */
    public record ChatLogprobs(@JsonInclude(JsonInclude.Include.ALWAYS) List<TokenLogprob> content) {
    }

    public record TokenLogprob(String token, double logprob, List<Integer> bytes, List<TopLogprob> topLogprobs) {
    }

    public record TopLogprob(String token, double logprob, List<Integer> bytes) {
    }
}
