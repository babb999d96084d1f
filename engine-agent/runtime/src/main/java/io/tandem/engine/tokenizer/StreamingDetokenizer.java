package io.tandem.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns generated token ids into text as they arrive. A token can end in the middle of a UTF-8 character (byte
 * fallback and byte-level BPE split emoji and CJK across tokens), so bytes of an incomplete trailing character are
 * held until it completes; text returned so far plus {@link #flush()} always equals
 * {@link Tokenizer#decode(int[], boolean)} of all ids fed, including the removal of SentencePiece's leading space.
 *
 * <p>Stateful: one instance per generation stream, not thread-safe. Obtain one from
 * {@link Tokenizer#newStreamingDetokenizer(boolean)}.
 */
public final class StreamingDetokenizer {
    private final VocabTokenizer tokenizer;
    private final boolean skipSpecial;
    private final VocabTokenizer.LeadingSpace leadingSpace;
    private final ByteArrayOutputStream scratch = new ByteArrayOutputStream();
    private byte[] pending = new byte[0];

    StreamingDetokenizer(VocabTokenizer tokenizer, boolean skipSpecial, boolean continuation) {
        this.tokenizer = tokenizer;
        this.skipSpecial = skipSpecial;
        this.leadingSpace = new VocabTokenizer.LeadingSpace(!continuation);
    }

    /**
     * Adds one token and returns the text it completes: possibly empty (a partial character, or a skipped special
     * token), possibly including characters begun by earlier tokens.
     *
     * @throws IllegalArgumentException if {@code id} is outside the vocabulary
     */
    public String feed(int id) {
        byte[] piece = tokenizer.piece(id, skipSpecial);
        scratch.reset();
        scratch.writeBytes(pending);
        leadingSpace.write(tokenizer, id, piece, scratch);
        byte[] all = scratch.toByteArray();
        int complete = completePrefix(all);
        pending = Arrays.copyOfRange(all, complete, all.length);
        return new String(all, 0, complete, StandardCharsets.UTF_8);
    }

    /** Returns the held bytes of an unfinished character (as U+FFFD, like decode) and resets the hold. */
    public String flush() {
        String rest = new String(pending, StandardCharsets.UTF_8);
        pending = new byte[0];
        return rest;
    }

    /**
     * Length of the longest prefix that does not end inside a UTF-8 sequence that could still be completed: a
     * lead byte near the end whose continuation bytes have not all arrived is held back. Anything already
     * malformed is released, so the decoder replaces it exactly as it would in the whole byte stream.
     */
    static int completePrefix(byte[] b) {
        int n = b.length;
        for (int back = 1; back <= Math.min(3, n); back++) {
            int v = b[n - back] & 0xFF;
            if ((v & 0xC0) == 0x80) {
                continue; // continuation byte: keep looking for the lead byte
            }
            int need = v >= 0xF0 && v <= 0xF4 ? 4 : v >= 0xE0 && v < 0xF0 ? 3 : v >= 0xC2 && v < 0xE0 ? 2 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
