package io.tandem.engine.tokenizer;

import io.tandem.engine.errors.UnsupportedTokenizerException;
import java.util.Objects;

/**
 * Creates the tokenizer a model's metadata describes. The public surface of this package is {@link Tokenizer},
 * {@link TokenizerSpec}, {@link StreamingDetokenizer} and this factory; the algorithms are package-private.
 */
public final class Tokenizers {
    private Tokenizers() {
    }

    /**
     * @throws UnsupportedTokenizerException if {@code spec.model()} is neither {@code "llama"} (SentencePiece)
     *                                       nor {@code "gpt2"} (byte-level BPE)
     */
    public static Tokenizer create(TokenizerSpec spec) {
        Objects.requireNonNull(spec, "spec must not be null");
        return switch (spec.model()) {
            case TokenizerSpec.MODEL_SPM -> new SpmTokenizer(spec);
            case TokenizerSpec.MODEL_BPE -> new BpeTokenizer(spec);
            default -> throw new UnsupportedTokenizerException(
                    "tokenizer model '" + spec.model() + "' is not supported (supported: 'llama' SentencePiece, "
                            + "'gpt2' byte-level BPE)");
        };
    }
}
