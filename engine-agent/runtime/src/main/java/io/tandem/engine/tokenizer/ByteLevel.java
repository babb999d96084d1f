package io.tandem.engine.tokenizer;

/**
 * GPT-2's reversible byte-to-unicode alphabet ({@code bytes_to_unicode}): printable Latin-1 bytes map to
 * themselves and the other 68 bytes to U+0100.. in order, so that every byte string is a string of visible
 * characters and a space shows as {@code Ġ}. Byte-level BPE vocabularies are written in this alphabet.
 * Stateless; thread-safe.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /** The byte-level string of {@code bytes}: one char per byte. */
    static String encode(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /** The single-char byte-level string of one byte. */
    static String charOf(int b) {
        return String.valueOf(BYTE_TO_CHAR[b & 0xFF]);
    }

    /**
     * Bytes of a byte-level token text. A character outside the alphabet (a malformed vocabulary) keeps its own
     * UTF-8 bytes instead of failing, so decoding never throws for a model's own tokens.
     */
    static byte[] decode(String text) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(text.length());
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int b = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
            if (b >= 0) {
                out.write(b);
            } else {
                out.writeBytes(new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            i += Character.charCount(cp);
        }
        return out.toByteArray();
    }
}
