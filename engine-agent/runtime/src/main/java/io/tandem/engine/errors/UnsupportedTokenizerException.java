package io.tandem.engine.errors;

/**
 * The model's GGUF metadata names a tokenizer model ({@code tokenizer.ggml.model}) that the engine does not
 * implement, e.g. {@code bert} (WordPiece) or {@code t5} (Unigram). Loading such a model fails fast rather
 * than producing wrong token ids.
 */
public class UnsupportedTokenizerException extends EngineException {
    public UnsupportedTokenizerException(String message) {
        super(message);
    }
}
