package io.tandem.agent.service;

/**
 * Splits a reasoning model's output into {@code reasoning_content} and {@code content} at its
 * {@code <think>}/{@code </think>} tokens, token by token so that streaming and non-streaming answers agree.
 *
 * <p>It keys on token ids, not text, because the think markers are special tokens that skip_special_tokens
 * removes from the text. A prompt that already opened the think block (templates that end the generation prompt
 * with {@code <think>}) starts in reasoning. Not thread-safe: one per choice, fed from one thread.
 */
public final class ReasoningSplitter {
    private final int startId;
    private final int endId;
    private boolean inReasoning;

    /** What one token adds to each field; either may be empty. */
    public record Part(String reasoning, String content) {
    }

    public ReasoningSplitter(int startId, int endId, boolean startInReasoning) {
        this.startId = startId;
        this.endId = endId;
        this.inReasoning = startInReasoning;
    }

    public Part accept(int tokenId, String text) {
        if (tokenId == startId) {
            inReasoning = true;
            return new Part("", "");
        }
        if (tokenId == endId) {
            inReasoning = false;
            return new Part("", "");
        }
        return inReasoning ? new Part(text, "") : new Part("", text);
    }
}
