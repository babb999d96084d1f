package io.tandem.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * SentencePiece ({@code tokenizer.ggml.model = "llama"}) as llama.cpp's {@code llm_tokenizer_spm} implements it:
 * spaces become {@code ▁}, the text is split into UTF-8 characters, and adjacent symbol pairs whose concatenation
 * is a vocabulary entry are merged greedily, highest score first and leftmost on ties, until no pair is in the
 * vocabulary. A symbol that is not a token falls back to its bytes' {@code <0xNN>} tokens.
 *
 * <p>The space prefix is added to the first text fragment and to each one that follows a special token, as
 * llama.cpp does. Immutable and thread-safe: every call works on its own symbol arrays.
 */
final class SpmTokenizer extends VocabTokenizer {

    private static final char SPACE_ESCAPE = '\u2581'; // ▁

    private final float[] scores;
    /** Token id of each byte's {@code <0xNN>} token, or -1. */
    private final int[] byteTokens = new int[256];

    SpmTokenizer(TokenizerSpec spec) {
        super(spec);
        float[] s = spec.scores();
        this.scores = s != null ? s : new float[texts.length];
        for (int b = 0; b < 256; b++) {
            int id = idOf(String.format("<0x%02X>", b));
            if (id < 0) {
                // llama.cpp's byte_to_token falls back to the byte itself as a one-character token.
                id = idOf(String.valueOf((char) b));
            }
            byteTokens[b] = id;
        }
        initPieces();
    }

    @Override
    byte[] normalPiece(String text) {
        return text.replace(SPACE_ESCAPE, ' ').getBytes(StandardCharsets.UTF_8);
    }

    @Override
    byte[] bytePiece(String text) {
        // "<0xNN>"; anything else is a malformed byte token and renders as its text.
        if (text.length() == 6 && text.startsWith("<0x") && text.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(text.substring(3, 5), 16)};
            } catch (NumberFormatException e) {
                // fall through
            }
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    void encodeFragments(List<Fragment> fragments, boolean addSpecial, IntList out) {
        if (addSpecial && addBos && bos >= 0) {
            out.add(bos);
        }
        boolean prevSpecial = true; // the first fragment gets the prefix, with or without BOS
        for (Fragment f : fragments) {
            if (f.isText()) {
                String text = addSpacePrefix && prevSpecial ? " " + f.text() : f.text();
                tokenize(text.replace(' ', SPACE_ESCAPE), out);
                prevSpecial = false;
            } else {
                out.add(f.token());
                prevSpecial = true;
            }
        }
        if (addSpecial && addEos && eos >= 0) {
            out.add(eos);
        }
    }

    /** A candidate merge of two adjacent symbols. */
    private record Bigram(int left, int right, float score, int size) {
    }

    private void tokenize(String text, IntList out) {
        int len = text.length();
        if (len == 0) {
            return;
        }
        // Symbols are a doubly linked list over code points; start/length are UTF-16 offsets into text.
        int[] start = new int[len];
        int[] size = new int[len];
        int[] prev = new int[len];
        int[] next = new int[len];
        int count = 0;
        for (int off = 0; off < len; ) {
            int n = Character.charCount(text.codePointAt(off));
            start[count] = off;
            size[count] = n;
            prev[count] = count - 1;
            off += n;
            next[count] = off == len ? -1 : count + 1;
            count++;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> {
            int c = Float.compare(b.score, a.score); // higher score first
            return c != 0 ? c : Integer.compare(a.left, b.left); // then leftmost
        });
        Map<String, int[]> revMerge = new HashMap<>();
        for (int i = 1; i < count; i++) {
            tryAddBigram(text, start, size, i - 1, i, queue, revMerge);
        }
        while (!queue.isEmpty()) {
            Bigram bg = queue.poll();
            int l = bg.left;
            int r = bg.right;
            // Stale if either side was merged since this pair was queued (sizes only grow, or drop to 0).
            if (size[l] == 0 || size[r] == 0 || size[l] + size[r] != bg.size) {
                continue;
            }
            size[l] += size[r];
            size[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            tryAddBigram(text, start, size, prev[l], l, queue, revMerge);
            tryAddBigram(text, start, size, l, next[l], queue, revMerge);
        }
        for (int i = 0; i != -1; i = next[i]) {
            resegment(text, start, size, i, revMerge, out);
        }
    }

    private void tryAddBigram(String text, int[] start, int[] size, int left, int right,
                              PriorityQueue<Bigram> queue, Map<String, int[]> revMerge) {
        if (left == -1 || right == -1) {
            return;
        }
        String piece = text.substring(start[left], start[left] + size[left] + size[right]);
        int id = idOf(piece);
        if (id < 0) {
            return;
        }
        queue.add(new Bigram(left, right, scores[id], piece.length()));
        revMerge.put(piece, new int[] {left, right});
    }

    private void resegment(String text, int[] start, int[] size, int sym, Map<String, int[]> revMerge, IntList out) {
        String piece = text.substring(start[sym], start[sym] + size[sym]);
        int id = idOf(piece);
        if (id >= 0) {
            out.add(id);
            return;
        }
        int[] parts = revMerge.get(piece);
        if (parts == null) {
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                int bt = byteTokens[b & 0xFF];
                // A vocabulary without byte tokens cannot spell this byte; llama.cpp would throw, we use <unk>.
                if (bt >= 0) {
                    out.add(bt);
                } else if (unk >= 0) {
                    out.add(unk);
                }
            }
            return;
        }
        resegment(text, start, size, parts[0], revMerge, out);
        resegment(text, start, size, parts[1], revMerge, out);
    }
}
