package io.tandem.proxy.anthropic;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a node's OpenAI chat stream ({@code data: {chunk}} events, then {@code data: [DONE]}) into Anthropic's
 * events: {@code message_start}, {@code content_block_start}, {@code ping} first; a {@code content_block_delta}
 * ({@code text_delta}) per content piece; at the end {@code content_block_stop}, {@code message_delta} (stop
 * reason, usage) and {@code message_stop}. An error event from the node becomes an Anthropic {@code error} event.
 *
 * <p>Not thread-safe: one instance per stream, fed in order (a Flux's onNext calls never overlap). Chunks may split
 * events anywhere; bytes are buffered up to the blank line that ends an event.
 */
final class StreamTranslator {
    private final String model;
    private final StringBuilder pending = new StringBuilder();
    private String id;
    private String finishReason;
    private JsonNode stopReason;
    private int inputTokens;
    private int outputTokens;
    private boolean ended;

    StreamTranslator(String model) {
        this.model = model;
    }

    /** The opening events, sent before the node's first chunk is translated. */
    byte[] start(String openAiId) {
        this.id = MessagesTranslator.messageId(openAiId);
        ObjectNode msg = AnthropicErrors.JSON.createObjectNode();
        msg.put("id", id).put("type", "message").put("role", "assistant");
        msg.putArray("content");
        msg.put("model", model);
        msg.putNull("stop_reason");
        msg.putNull("stop_sequence");
        msg.putObject("usage").put("input_tokens", 0).put("output_tokens", 0);
        ObjectNode start = AnthropicErrors.JSON.createObjectNode().put("type", "message_start");
        start.set("message", msg);
        ObjectNode block = AnthropicErrors.JSON.createObjectNode().put("type", "content_block_start").put("index", 0);
        block.putObject("content_block").put("type", "text").put("text", "");
        return (event("message_start", start) + event("content_block_start", block)
                + event("ping", AnthropicErrors.JSON.createObjectNode().put("type", "ping")))
                .getBytes(StandardCharsets.UTF_8);
    }

    /** Translates the complete events in {@code chunk}; may return nothing. */
    byte[] next(byte[] chunk) {
        pending.append(new String(chunk, StandardCharsets.UTF_8).replace("\r\n", "\n"));
        StringBuilder out = new StringBuilder();
        int end;
        while (!ended && (end = pending.indexOf("\n\n")) >= 0) {
            String ev = pending.substring(0, end);
            pending.delete(0, end + 2);
            List<String> data = new ArrayList<>();
            for (String line : ev.split("\n")) {
                if (line.startsWith("data:")) {
                    data.add(line.substring(5).strip());
                }
            }
            if (!data.isEmpty()) {
                out.append(onData(String.join("\n", data)));
            }
        }
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The closing events, when the node's stream ended without [DONE] or after it. */
    byte[] finish() {
        return ended ? new byte[0] : close().getBytes(StandardCharsets.UTF_8);
    }

    private String onData(String data) {
        if (data.equals("[DONE]")) {
            return close();
        }
        JsonNode c;
        try {
            c = AnthropicErrors.JSON.readTree(data);
        } catch (Exception e) {
            return ""; // not JSON: nothing Anthropic clients could use
        }
        if (c.has("error")) {
            ended = true;
            JsonNode err = c.path("error");
            return event("error", AnthropicErrors.body("api_error",
                    err.isObject() ? err.path("message").asText("") : err.asText()));
        }
        if (c.path("usage").isObject()) {
            inputTokens = c.path("usage").path("prompt_tokens").asInt(inputTokens);
            outputTokens = c.path("usage").path("completion_tokens").asInt(outputTokens);
        }
        StringBuilder out = new StringBuilder();
        for (JsonNode choice : c.path("choices")) {
            String text = choice.path("delta").path("content").asText("");
            if (!text.isEmpty()) {
                ObjectNode d = AnthropicErrors.JSON.createObjectNode().put("type", "content_block_delta").put("index", 0);
                d.putObject("delta").put("type", "text_delta").put("text", text);
                out.append(event("content_block_delta", d));
            }
            if (choice.hasNonNull("finish_reason")) {
                finishReason = choice.path("finish_reason").asText();
                stopReason = choice.get("stop_reason");
            }
        }
        return out.toString();
    }

    private String close() {
        ended = true;
        String[] stop = MessagesTranslator.stop(finishReason, stopReason);
        ObjectNode delta = AnthropicErrors.JSON.createObjectNode().put("type", "message_delta");
        delta.putObject("delta").put("stop_reason", stop[0]).put("stop_sequence", stop[1]);
        delta.putObject("usage").put("input_tokens", inputTokens).put("output_tokens", outputTokens);
        return event("content_block_stop", AnthropicErrors.JSON.createObjectNode().put("type", "content_block_stop")
                .put("index", 0))
                + event("message_delta", delta)
                + event("message_stop", AnthropicErrors.JSON.createObjectNode().put("type", "message_stop"));
    }

    private static String event(String name, ObjectNode data) {
        return "event: " + name + "\ndata: " + data + "\n\n";
    }
}
