package io.tandem.proxy.anthropic;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;

/**
 * Anthropic Messages <-> OpenAI chat completions, field by field. Stateless, thread-safe.
 *
 * <p>Request: {@code model}, {@code system} (string or text blocks) as a leading system message, {@code messages}
 * (user/assistant, string or text blocks), {@code max_tokens} (required), {@code temperature}, {@code top_p},
 * {@code top_k}, {@code stop_sequences} -> {@code stop}, {@code stream} (with {@code include_usage}),
 * {@code metadata.user_id} -> {@code user}. Other block types (images, tools) answer 400: the nodes take text.
 *
 * <p>Stop reason: {@code length} -> max_tokens; {@code stop} with the node's vLLM-style {@code stop_reason}
 * string (the matched stop text) -> stop_sequence; any other stop -> end_turn.
 */
final class MessagesTranslator {
    private MessagesTranslator() {}

    /** The parsed request: the OpenAI body to route, and what the answer needs. */
    record Translated(byte[] openAiBody, String model, boolean stream) {}

    static Translated request(byte[] body) {
        JsonNode req;
        try {
            req = AnthropicErrors.JSON.readTree(body);
        } catch (IOException e) {
            throw AnthropicException.invalid("body: not valid JSON (" + e.getMessage() + ")");
        }
        if (req == null || !req.isObject()) {
            throw AnthropicException.invalid("body: expected a JSON object");
        }
        ObjectNode out = AnthropicErrors.JSON.createObjectNode();
        JsonNode model = req.get("model");
        if (model == null || !model.isTextual() || model.asText().isBlank()) {
            throw AnthropicException.invalid("model: Field required");
        }
        out.put("model", model.asText());
        JsonNode max = req.get("max_tokens");
        if (max == null || max.isNull()) {
            throw AnthropicException.invalid("max_tokens: Field required");
        }
        if (!max.canConvertToInt() || !max.isIntegralNumber() || max.asInt() < 1) {
            throw AnthropicException.invalid("max_tokens: " + max + " (expected: an integer >= 1)");
        }
        out.put("max_tokens", max.asInt());

        ArrayNode messages = out.putArray("messages");
        JsonNode system = req.get("system");
        if (system != null && !system.isNull()) {
            messages.addObject().put("role", "system").put("content", text(system, "system"));
        }
        JsonNode in = req.get("messages");
        if (in == null || !in.isArray() || in.isEmpty()) {
            throw AnthropicException.invalid("messages: Field required (a non-empty array)");
        }
        for (int i = 0; i < in.size(); i++) {
            JsonNode m = in.get(i);
            String role = m.path("role").asText("");
            if (!role.equals("user") && !role.equals("assistant")) {
                throw AnthropicException.invalid("messages." + i + ".role: '" + role + "' (expected: user or assistant)");
            }
            JsonNode content = m.get("content");
            if (content == null || content.isNull()) {
                throw AnthropicException.invalid("messages." + i + ".content: Field required");
            }
            messages.addObject().put("role", role).put("content", text(content, "messages." + i + ".content"));
        }
        copyNumber(req, "temperature", out, "temperature");
        copyNumber(req, "top_p", out, "top_p");
        copyNumber(req, "top_k", out, "top_k");
        JsonNode stops = req.get("stop_sequences");
        if (stops != null && !stops.isNull()) {
            if (!stops.isArray()) {
                throw AnthropicException.invalid("stop_sequences: expected an array of strings");
            }
            ArrayNode stop = out.putArray("stop");
            for (JsonNode s : stops) {
                if (!s.isTextual()) {
                    throw AnthropicException.invalid("stop_sequences: expected an array of strings");
                }
                stop.add(s.asText());
            }
        }
        String user = req.path("metadata").path("user_id").asText("");
        if (!user.isEmpty()) {
            out.put("user", user);
        }
        boolean stream = req.path("stream").asBoolean(false);
        if (stream) {
            out.put("stream", true);
            out.putObject("stream_options").put("include_usage", true);
        }
        return new Translated(out.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8), model.asText(), stream);
    }

    private static void copyNumber(JsonNode req, String from, ObjectNode out, String to) {
        JsonNode v = req.get(from);
        if (v == null || v.isNull()) {
            return;
        }
        if (!v.isNumber()) {
            throw AnthropicException.invalid(from + ": " + v + " (expected: a number)");
        }
        out.set(to, v);
    }

    /** A string, or text blocks joined; any other block type is refused. */
    private static String text(JsonNode content, String field) {
        if (content.isTextual()) {
            return content.asText();
        }
        if (!content.isArray()) {
            throw AnthropicException.invalid(field + ": expected a string or an array of content blocks");
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < content.size(); i++) {
            JsonNode b = content.get(i);
            String type = b.path("type").asText("");
            if (!type.equals("text")) {
                throw AnthropicException.invalid(field + "." + i + ".type: '" + type
                        + "' (only text content blocks are supported)");
            }
            sb.append(b.path("text").asText(""));
        }
        return sb.toString();
    }

    /** Anthropic's stop_reason and stop_sequence from an OpenAI choice's finish_reason and stop_reason. */
    static String[] stop(String finishReason, JsonNode nodeStopReason) {
        if ("length".equals(finishReason)) {
            return new String[] {"max_tokens", null};
        }
        if (nodeStopReason != null && nodeStopReason.isTextual()) {
            return new String[] {"stop_sequence", nodeStopReason.asText()};
        }
        return new String[] {"end_turn", null};
    }

    /** A whole OpenAI chat completion as an Anthropic message. */
    static ObjectNode response(byte[] openAi, String requestedModel) throws IOException {
        JsonNode c = AnthropicErrors.JSON.readTree(openAi);
        JsonNode choice = c.path("choices").path(0);
        String[] stop = stop(choice.path("finish_reason").asText(null), choice.get("stop_reason"));
        ObjectNode m = AnthropicErrors.JSON.createObjectNode();
        m.put("id", messageId(c.path("id").asText("")));
        m.put("type", "message");
        m.put("role", "assistant");
        ArrayNode content = m.putArray("content");
        content.addObject().put("type", "text").put("text", choice.path("message").path("content").asText(""));
        m.put("model", c.path("model").asText(requestedModel));
        m.put("stop_reason", stop[0]);
        m.put("stop_sequence", stop[1]);
        ObjectNode usage = m.putObject("usage");
        usage.put("input_tokens", c.path("usage").path("prompt_tokens").asInt(0));
        usage.put("output_tokens", c.path("usage").path("completion_tokens").asInt(0));
        return m;
    }

    static String messageId(String openAiId) {
        return "msg_" + (openAiId.isEmpty() ? Long.toHexString(System.nanoTime()) : openAiId.replaceFirst("^chatcmpl-", ""));
    }

}
