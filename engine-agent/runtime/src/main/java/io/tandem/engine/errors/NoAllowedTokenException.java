package io.tandem.engine.errors;

/**
 * Sampling found no token it may emit: every logit is {@code -inf} or NaN after penalties, the constraint mask
 * and end-of-generation suppression. For constrained decoding this means the grammar reached a dead end (or
 * the mask contradicts {@code min_tokens}); otherwise the model produced non-finite logits. The request cannot
 * continue; the engine should abort it with this message rather than emit an arbitrary token.
 */
public class NoAllowedTokenException extends EngineException {
    public NoAllowedTokenException(String message) {
        super(message);
    }
}
