package io.tandem.engine.tokenizer;

import java.util.OptionalInt;

/**
 * Text to token ids and back, exactly as llama.cpp tokenizes from a model's GGUF metadata, so that prompts
 * produce the ids the model was trained on and outputs match llama.cpp's.
 *
 * <p>Implementations are immutable and thread-safe: one instance serves every request of a model.
 * Create one with {@link Tokenizers#create(TokenizerSpec)}.
 */
public interface Tokenizer {

    /**
     * Tokenizes {@code text} as llama.cpp's {@code llama_tokenize} does.
     *
     * @param addSpecial   add BOS/EOS where the model's metadata asks for them
     * @param parseSpecial recognise the texts of control tokens (e.g. {@code <|im_start|>}) in {@code text} and
     *                     emit their ids; when false they are tokenized as plain text. As in llama.cpp,
     *                     user-defined tokens are always recognised.
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /**
     * Turns ids back into text. Bytes are concatenated before UTF-8 decoding, so characters split across tokens
     * come out whole; invalid sequences become U+FFFD. For SentencePiece, the single space that the space prefix
     * put before the first word is removed (the first token, or the first after a leading BOS).
     *
     * @param skipSpecial omit control and unknown tokens (BOS, EOS, {@code <|im_end|>}, ...)
     * @throws IllegalArgumentException if an id is outside the vocabulary
     */
    String decode(int[] ids, boolean skipSpecial);

    /** A detokenizer for streaming output, equivalent to {@link #decode} over everything fed to it. */
    StreamingDetokenizer newStreamingDetokenizer(boolean skipSpecial);

    /**
     * A detokenizer for generated tokens that continue a prompt: unlike {@link #newStreamingDetokenizer}, it keeps
     * a SentencePiece token's leading space even on the first token, because that space separates the output
     * from the prompt's last word (llama.cpp's server streams it the same way).
     */
    StreamingDetokenizer newContinuationDetokenizer(boolean skipSpecial);

    /**
     * The raw bytes the token stands for: SentencePiece {@code ▁} becomes a space and {@code <0xNN>} the byte
     * 0xNN; byte-level BPE text maps back through the GPT-2 byte alphabet; control and user-defined tokens give
     * their text; unused tokens give nothing.
     */
    byte[] tokenBytes(int id);

    /** The vocabulary string of the token, as stored in the model. */
    String tokenText(int id);

    int vocabSize();

    /** BOS id, or -1 if the model has none. */
    int bosId();

    /** EOS id, or -1 if the model has none. */
    int eosId();

    /** True for control tokens (type 3), including end-of-generation texts llama.cpp promotes to control. */
    boolean isControl(int id);

    /** True if generating this token ends the turn: EOS, EOT, and llama.cpp's end-of-generation texts. */
    boolean isEndOfGeneration(int id);

    /** The id whose vocabulary string is exactly {@code text}. */
    OptionalInt tokenId(String text);

    /** Whether {@code encode(text, true, ...)} starts with BOS. */
    boolean addsBos();
}
