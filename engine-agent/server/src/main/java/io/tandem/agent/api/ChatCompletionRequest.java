package io.tandem.agent.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;

/**
 * {@code POST /v1/chat/completions}, field for field as LMDeploy's api_server takes it (OpenAI's fields plus
 * top_k, min_p, repetition_penalty, min_new_tokens, ignore_eos, skip_special_tokens, session_id,
 * return_token_ids, enable_thinking, ...). Fields whose wire type is a union (messages: string or list; stop:
 * string or list) are kept as {@link JsonNode} and interpreted by the service, so that a wrong shape answers 400
 * naming the field rather than a generic parse error. DistServe adds {@code with_cache}/{@code preserve_cache}
 * (prefill: keep the KV blocks for a decode agent) and {@code migration_request} (decode: pull them), which
 * only cluster members may send. Unset fields are null and take the documented default.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ChatCompletionRequest(
        String model,
        JsonNode messages,
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
        StreamOptions streamOptions,
        Double presencePenalty,
        Double frequencyPenalty,
        Double repetitionPenalty,
        Long seed,
        Boolean logprobs,
        Integer topLogprobs,
        Boolean ignoreEos,
        Boolean skipSpecialTokens,
        Integer minNewTokens,
        Integer minTokens,
        Long sessionId,
        Boolean returnTokenIds,
        ResponseFormat responseFormat,
        Boolean enableThinking,
        Map<String, Object> chatTemplateKwargs,
        JsonNode tools,
        JsonNode toolChoice,
        Boolean includeStopStrInOutput,
        Boolean doPreprocess,
        Map<String, Object> logitBias,
        String reasoningEffort,
        Boolean spacesBetweenSpecialTokens,
        String user,
        Boolean withCache,
        Boolean preserveCache,
        JsonNode migrationRequest) {

    /** {@code stream_options}: {@code include_usage} adds a last chunk with the usage and no choices. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record StreamOptions(Boolean includeUsage) {
    }

    /**
     * {@code response_format}: {@code text}, {@code json_object}, or {@code json_schema} with
     * {@code json_schema.schema}.
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ResponseFormat(String type, JsonSchema jsonSchema, String regexSchema) {
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record JsonSchema(String name, String description, JsonNode schema, Boolean strict) {
    }
}
