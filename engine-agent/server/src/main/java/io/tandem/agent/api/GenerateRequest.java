package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * LMDeploy's {@code POST /generate}: a raw prompt or token ids in, text and token ids out (RL rollouts use it to
 * keep exact ids). Defaults as LMDeploy: max_tokens 128, temperature 1, top_k 0 (off), skip_special_tokens true.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record GenerateRequest(
        String prompt,
        List<Integer> inputIds,
        Integer maxTokens,
        Double temperature,
        Double topP,
        Integer topK,
        Double minP,
        Double repetitionPenalty,
        Boolean ignoreEos,
        Boolean skipSpecialTokens,
        JsonNode stop,
        List<Integer> stopTokenIds,
        Boolean stream,
        Boolean returnLogprob,
        Long sessionId,
        Boolean includeStopStrInOutput,
        Long seed,
        JsonNode imageData) {
}
