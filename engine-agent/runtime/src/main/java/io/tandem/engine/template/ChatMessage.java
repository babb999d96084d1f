package io.tandem.engine.template;

import java.util.Objects;

/**
 * One turn of a conversation as chat templates see it: {@code message.role}, {@code message.content} and, for
 * reasoning models such as Qwen3, {@code message.reasoning_content} (absent from the template's view when null,
 * so {@code is defined} tests behave as with Hugging Face).
 *
 * @param role             {@code system}, {@code user}, {@code assistant}, {@code tool}, ...
 * @param content          the text; never null (use "" for none)
 * @param reasoningContent the assistant's thinking, or null
 */
public record ChatMessage(String role, String content, String reasoningContent) {
    public ChatMessage {
        Objects.requireNonNull(role, "role must not be null");
        Objects.requireNonNull(content, "content must not be null (use \"\" for an empty message)");
    }

    public ChatMessage(String role, String content) {
        this(role, content, null);
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
