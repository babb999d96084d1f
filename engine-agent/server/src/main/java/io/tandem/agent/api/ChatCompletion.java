package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The non-streaming chat answer ({@code object: chat.completion}).
 *
 * @param cacheBlockIds  and {@code remoteTokenIds}: LMDeploy's DistServe fields on a prefill agent's answer (see
 *                       {@link Completion})
 */
public record ChatCompletion(String id, String object, long created, String model, List<Choice> choices,
                             Usage usage, List<Integer> promptTokenIds, List<Integer> cacheBlockIds,
                             List<Integer> remoteTokenIds) {

    public ChatCompletion(String id, String object, long created, String model, List<Choice> choices, Usage usage,
                          List<Integer> promptTokenIds) {
        this(id, object, created, model, choices, usage, promptTokenIds, null, null);
    }

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
