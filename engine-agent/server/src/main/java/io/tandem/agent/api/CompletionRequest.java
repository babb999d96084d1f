package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * {@code POST /v1/completions}, as LMDeploy's api_server takes it. {@code prompt} is a string, a list of strings,
 * a list of token ids or a list of such lists; each prompt yields {@code n} choices, numbered prompt-major.
 * {@code logprobs} is the legacy integer (top alternatives per token). DistServe adds {@code with_cache}/
 * {@code preserve_cache} (prefill: keep the KV blocks for a decode agent) and {@code migration_request} (decode:
 * pull them), which only cluster members may send.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CompletionRequest(
        String model,
        JsonNode prompt,
        String suffix,
        Double temperature,
        Double topP,
        Integer topK,
        Double minP,
        Integer n,
        Integer maxTokens,
        Integer maxCompletionTokens,
        JsonNode stop,
        List<Integer> stopTokenIds,
        Boolean stream,
        ChatCompletionRequest.StreamOptions streamOptions,
        Double presencePenalty,
        Double frequencyPenalty,
        Double repetitionPenalty,
        Long seed,
        Integer logprobs,
        Boolean echo,
        Boolean ignoreEos,
        Boolean skipSpecialTokens,
        Integer minNewTokens,
        Integer minTokens,
        Long sessionId,
        Boolean returnTokenIds,
        Boolean includeStopStrInOutput,
        Boolean spacesBetweenSpecialTokens,
        String user,
        Boolean withCache,
        Boolean preserveCache,
        JsonNode migrationRequest) {
}
