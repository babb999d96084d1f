package io.tandem.agent.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.agent.config.AgentConfig;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.errors.ModelNotFoundException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.tokenizer.Tokenizer;
import jakarta.inject.Singleton;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Turns the wire requests into what the engine takes: the prompt's token ids and {@link SamplingParams}. All
 * shape checks that the JSON binding cannot express (unions, roles, content parts) happen here and fail with a
 * 400 naming the field; value ranges are checked by {@link SamplingParams} itself, which names the wire parameter.
 *
 * <p>Rendering a chat template is CPU work (Jinjava): callers run on a blocking executor. Thread-safe.
 */
@Singleton
public final class RequestMapper {
    private final AgentEngine agent;
    private final AgentConfig config;
    private final ObjectMapper json;

    public RequestMapper(AgentEngine agent, AgentConfig config, ObjectMapper json) {
        this.agent = agent;
        this.config = config;
        this.json = json;
    }

    /** 404 unless {@code model} is empty or the served name (or the model's own name). */
    public void checkModel(String model) {
        if (model != null && !model.isEmpty() && !model.equals(agent.servedName())
                && !model.equals(agent.model().name())) {
            throw new ModelNotFoundException("The model '" + model + "' does not exist; this agent serves '"
                    + agent.servedName() + "'", "model");
        }
    }

    public String servedName() {
        return agent.servedName();
    }

    public Tokenizer tokenizer() {
        return agent.model().tokenizer();
    }

    /** {@code stop}: a string, a list of strings, or null. */
    public static List<String> stops(JsonNode stop) {
        if (stop == null || stop.isNull()) {
            return List.of();
        }
        if (stop.isTextual()) {
            return stop.asText().isEmpty() ? List.of() : List.of(stop.asText());
        }
        if (stop.isArray()) {
            List<String> out = new ArrayList<>();
            for (JsonNode s : stop) {
                if (!s.isTextual()) {
                    throw new BadParameterException("stop: every entry must be a string, got " + s, "stop");
                }
                if (!s.asText().isEmpty()) {
                    out.add(s.asText());
                }
            }
            return out;
        }
        throw new BadParameterException("stop: expected a string or a list of strings, got " + stop.getNodeType(), "stop");
    }

    /** The fields every generation endpoint shares; null = the API's default. */
    public record Sampling(Double temperature, Double topP, Integer topK, Double minP, Double repetitionPenalty,
                           Double presencePenalty, Double frequencyPenalty, Long seed, JsonNode stop,
                           List<Integer> stopTokenIds, Boolean ignoreEos, Integer minNewTokens, Integer maxTokens,
                           String maxTokensParam, Integer logprobs, Boolean skipSpecialTokens) {
    }

    /**
     * Builds the engine's parameters. A missing max_tokens becomes the configured default, capped to what the
     * context leaves after the prompt.
     */
    public SamplingParams sampling(Sampling s, int promptLen) {
        int remaining = Math.max(1, agent.engine().maxModelLen() - promptLen);
        int maxTokens;
        if (s.maxTokens() == null) {
            maxTokens = Math.min(config.defaultMaxTokens(), remaining);
        } else {
            if (s.maxTokens() <= 0) {
                throw new BadParameterException(s.maxTokensParam() + ": " + s.maxTokens() + " (expected: > 0)",
                        s.maxTokensParam());
            }
            maxTokens = s.maxTokens();
        }
        int topK = s.topK() == null || s.topK() <= 0 ? -1 : s.topK();
        if (s.topK() != null && s.topK() < -1) {
            throw new BadParameterException("top_k: " + s.topK() + " (expected: -1 or 0 for off, or > 0)", "top_k");
        }
        int vocab = agent.model().config().vocabSize();
        if (s.stopTokenIds() != null) {
            for (Integer id : s.stopTokenIds()) {
                if (id == null || id < 0 || id >= vocab) {
                    throw new BadParameterException("stop_token_ids: " + id + " (expected: 0.." + (vocab - 1) + ")",
                            "stop_token_ids");
                }
            }
        }
        if (s.seed() != null && s.seed() < 0) {
            throw new BadParameterException("seed: " + s.seed() + " (expected: >= 0)", "seed");
        }
        SamplingParams.Builder b = SamplingParams.builder()
                .temperature(s.temperature() == null ? 1.0 : s.temperature())
                .topP(s.topP() == null ? 1.0 : s.topP())
                .topK(topK)
                .minP(s.minP() == null ? 0.0 : s.minP())
                .repetitionPenalty(s.repetitionPenalty() == null ? 1.0 : s.repetitionPenalty())
                .presencePenalty(s.presencePenalty() == null ? 0.0 : s.presencePenalty())
                .frequencyPenalty(s.frequencyPenalty() == null ? 0.0 : s.frequencyPenalty())
                .seed(s.seed())
                .stop(stops(s.stop()))
                .stopTokenIds(s.stopTokenIds() == null ? java.util.Set.of() : new HashSet<>(s.stopTokenIds()))
                .ignoreEos(Boolean.TRUE.equals(s.ignoreEos()))
                .minNewTokens(s.minNewTokens() == null ? 0 : s.minNewTokens())
                .maxTokens(maxTokens)
                .logprobs(s.logprobs())
                .skipSpecialTokens(s.skipSpecialTokens() == null || s.skipSpecialTokens());
        return b.build();
    }

    /** A rendered chat prompt. {@code startsInReasoning}: the prompt ends inside an open think block. */
    public record ChatPrompt(String text, int[] ids, boolean startsInReasoning) {
    }

    /**
     * Renders {@code messages} (a string = one user turn, or a list of OpenAI messages whose content is a string
     * or a list of text parts) with the model's chat template and tokenizes the result.
     */
    public ChatPrompt chatPrompt(JsonNode messages, Boolean enableThinking, Map<String, Object> templateKwargs,
                                 JsonNode tools) {
        List<Map<String, Object>> turns = new ArrayList<>();
        if (messages == null || messages.isNull()) {
            throw new BadParameterException("messages: required", "messages");
        }
        if (messages.isTextual()) {
            turns.add(new LinkedHashMap<>(Map.of("role", "user", "content", messages.asText())));
        } else if (messages.isArray()) {
            if (messages.isEmpty()) {
                throw new BadParameterException("messages: must not be empty", "messages");
            }
            for (int i = 0; i < messages.size(); i++) {
                turns.add(turn(messages.get(i), "messages[" + i + "]"));
            }
        } else {
            throw new BadParameterException("messages: expected a string or a list of messages", "messages");
        }
        Map<String, Object> extra = new LinkedHashMap<>();
        Tokenizer tok = tokenizer();
        if (tok.bosId() >= 0) {
            extra.put("bos_token", tok.tokenText(tok.bosId()));
        }
        if (tok.eosId() >= 0) {
            extra.put("eos_token", tok.tokenText(tok.eosId()));
        }
        if (templateKwargs != null) {
            extra.putAll(templateKwargs);
        }
        if (enableThinking != null) {
            extra.put("enable_thinking", enableThinking);
        }
        if (tools != null && tools.isArray() && !tools.isEmpty()) {
            extra.put("tools", json.convertValue(tools, List.class));
        }
        String text = agent.model().chatTemplate().renderMessages(turns, true, extra);
        int[] ids = tok.encode(text, true, true);
        return new ChatPrompt(text, ids, text.stripTrailing().endsWith("<think>"));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> turn(JsonNode m, String where) {
        if (!m.isObject()) {
            throw new BadParameterException(where + ": expected an object with role and content", "messages");
        }
        Map<String, Object> turn = json.convertValue(m, LinkedHashMap.class);
        Object role = turn.get("role");
        if (!(role instanceof String r) || !List.of("system", "user", "assistant", "tool", "developer").contains(r)) {
            throw new BadParameterException(where + ".role: " + role
                    + " (expected: system, user, assistant, tool or developer)", "messages");
        }
        JsonNode content = m.get("content");
        if (content == null || content.isNull()) {
            if (!"assistant".equals(role)) {
                throw new BadParameterException(where + ".content: required", "messages");
            }
            turn.put("content", "");
        } else if (content.isTextual()) {
            turn.put("content", content.asText());
        } else if (content.isArray()) {
            // OpenAI content parts: text parts are joined with newlines (as vLLM does); this engine has no vision.
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < content.size(); j++) {
                JsonNode part = content.get(j);
                String type = part.path("type").asText("");
                if (!type.equals("text") || !part.path("text").isTextual()) {
                    throw new BadParameterException(where + ".content[" + j + "]: type '" + type
                            + "' is not supported (expected: text parts; this model has no vision)", "messages");
                }
                if (!sb.isEmpty()) {
                    sb.append('\n');
                }
                sb.append(part.get("text").asText());
            }
            turn.put("content", sb.toString());
        } else {
            throw new BadParameterException(where + ".content: expected a string or a list of content parts",
                    "messages");
        }
        return turn;
    }

    /** The completions {@code prompt}: one or more prompts, each text or token ids. */
    public List<int[]> completionPrompts(JsonNode prompt) {
        Tokenizer tok = tokenizer();
        if (prompt == null || prompt.isNull()) {
            throw new BadParameterException("prompt: required", "prompt");
        }
        if (prompt.isTextual()) {
            return List.of(tok.encode(prompt.asText(), true, false));
        }
        if (!prompt.isArray() || prompt.isEmpty()) {
            throw new BadParameterException("prompt: expected a string, a list of strings or a list of token ids",
                    "prompt");
        }
        if (prompt.get(0).isNumber()) {
            return List.of(ids(prompt));
        }
        List<int[]> out = new ArrayList<>();
        for (JsonNode p : prompt) {
            if (p.isTextual()) {
                out.add(tok.encode(p.asText(), true, false));
            } else if (p.isArray() && !p.isEmpty()) {
                out.add(ids(p));
            } else {
                throw new BadParameterException("prompt: every entry must be a string or a list of token ids", "prompt");
            }
        }
        return out;
    }

    private int[] ids(JsonNode arr) {
        int vocab = agent.model().config().vocabSize();
        int[] ids = new int[arr.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode v = arr.get(i);
            if (!v.canConvertToInt() || v.asInt() < 0 || v.asInt() >= vocab) {
                throw new BadParameterException("prompt: token id " + v + " at " + i + " (expected: 0.." + (vocab - 1)
                        + ")", "prompt");
            }
            ids[i] = v.asInt();
        }
        return ids;
    }

    /** A splitter when the vocabulary has both think markers and the parser is not off, else null. */
    public ReasoningSplitter reasoningSplitter(boolean startsInReasoning) {
        if ("none".equalsIgnoreCase(config.reasoningParser())) {
            return null;
        }
        OptionalInt start = tokenizer().tokenId("<think>");
        OptionalInt end = tokenizer().tokenId("</think>");
        if (start.isEmpty() || end.isEmpty()) {
            return null;
        }
        return new ReasoningSplitter(start.getAsInt(), end.getAsInt(), startsInReasoning);
    }
}
