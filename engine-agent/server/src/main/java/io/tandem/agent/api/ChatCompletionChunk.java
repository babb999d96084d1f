package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** One SSE event of a streamed chat answer ({@code object: chat.completion.chunk}). */
public record ChatCompletionChunk(String id, String object, long created, String model, List<Choice> choices,
                                  Usage usage, List<Integer> promptTokenIds) {

    public record Choice(int index, Delta delta,
                         @JsonInclude(JsonInclude.Include.ALWAYS) ChatCompletion.ChatLogprobs logprobs,
                         @JsonInclude(JsonInclude.Include.ALWAYS) String finishReason,
                         List<Integer> tokenIds) {
    }

    public record Delta(String role, String content, String reasoningContent) {
    }
}
