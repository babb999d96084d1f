package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * A {@code text_completion}, streamed or not (a streamed chunk has the same shape with the text delta).
 *
 * @param cacheBlockIds  LMDeploy's DistServe field: the KV blocks a prefill agent holds for this request
 *                       ({@code with_cache}/{@code preserve_cache}), in position order
 * @param remoteTokenIds LMDeploy's DistServe field: the token sampled after the prompt, which the decode agent
 *                       emits first
 */
public record Completion(String id, String object, long created, String model, List<Choice> choices,
                         Usage usage, List<Integer> cacheBlockIds, List<Integer> remoteTokenIds) {

    public Completion(String id, String object, long created, String model, List<Choice> choices, Usage usage) {
        this(id, object, created, model, choices, usage, null, null);
    }

    /**
     * @param promptTokenIds and {@code tokenIds}: with {@code return_token_ids}
     */
    public record Choice(int index, String text,
                         @JsonInclude(JsonInclude.Include.ALWAYS) Logprobs logprobs,
                         @JsonInclude(JsonInclude.Include.ALWAYS) String finishReason,
                         Object stopReason, List<Integer> promptTokenIds, List<Integer> tokenIds) {
    }

    /** The legacy completions logprobs: parallel lists, top alternatives as token-to-logprob maps. */
    public record Logprobs(List<String> tokens, List<Double> tokenLogprobs, List<Map<String, Double>> topLogprobs,
                           List<Integer> textOffset) {
    }
}
