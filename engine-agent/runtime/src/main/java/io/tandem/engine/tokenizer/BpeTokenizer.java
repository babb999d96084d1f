package io.tandem.engine.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Byte-level BPE ({@code tokenizer.ggml.model = "gpt2"}) as llama.cpp's {@code llm_tokenizer_bpe} implements it:
 * the pre-tokenizer splits text into words, each word's UTF-8 bytes are written in GPT-2's byte alphabet, and
 * adjacent symbols are merged by merge rank (lowest first, leftmost on ties) until no ranked pair remains.
 * With Llama-3's pre-tokenizer a word that is itself a token is emitted whole without merging (ignore_merges).
 *
 * <p>Immutable and thread-safe.
 */
final class BpeTokenizer extends VocabTokenizer {

    /** Rank of each merge, keyed {@code left + '\0' + right}; the first occurrence of a pair wins. */
    private final Map<String, Integer> ranks;
    private final PreTokenizer preTokenizer;

    BpeTokenizer(TokenizerSpec spec) {
        super(spec);
        this.preTokenizer = PreTokenizer.forName(spec.pre());
        List<String> merges = spec.merges();
        this.ranks = new HashMap<>(merges.size() * 2);
        for (int i = 0; i < merges.size(); i++) {
            String m = merges.get(i);
            // Split at the first space after the first character, as llama.cpp does (a left side may be " ").
            int sp = m.indexOf(' ', 1);
            if (sp < 0) {
                throw new IllegalArgumentException("merges[" + i + "] has no space separating its two parts: '" + m + "'");
            }
            ranks.putIfAbsent(m.substring(0, sp) + '\0' + m.substring(sp + 1), i);
        }
        initPieces();
    }

    String preTokenizerName() {
        return preTokenizer.name();
    }

    @Override
    byte[] normalPiece(String text) {
        return ByteLevel.decode(text);
    }

    @Override
    byte[] bytePiece(String text) {
        // llama.cpp renders nothing for byte-type tokens in BPE vocabularies; spelling them in the byte
        // alphabet is the only meaningful alternative, and they do not occur in real byte-level vocabularies.
        return ByteLevel.decode(text);
    }

    @Override
    void encodeFragments(List<Fragment> fragments, boolean addSpecial, IntList out) {
        if (addSpecial && addBos && bos >= 0) {
            out.add(bos);
        }
        for (Fragment f : fragments) {
            if (f.isText()) {
                for (String word : preTokenizer.split(f.text())) {
                    encodeWord(ByteLevel.encode(word.getBytes(StandardCharsets.UTF_8)), out);
                }
            } else {
                out.add(f.token());
            }
        }
        if (addSpecial && addEos && eos >= 0) {
            out.add(eos);
        }
    }

    private record Bigram(int left, int right, int rank, String text) {
    }

    /** BPE over one word already written in the byte alphabet (every char is one symbol). */
    private void encodeWord(String word, IntList out) {
        if (preTokenizer.ignoreMerges()) {
            int id = idOf(word);
            if (id >= 0) {
                out.add(id);
                return;
            }
        }
        int n = word.length();
        int[] start = new int[n];
        int[] size = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            start[i] = i;
            size[i] = 1;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) -> {
            int c = Integer.compare(a.rank, b.rank); // lowest rank first
            return c != 0 ? c : Integer.compare(a.left, b.left); // then leftmost
        });
        for (int i = 1; i < n; i++) {
            addBigram(word, start, size, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            Bigram bg = queue.poll();
            int l = bg.left;
            int r = bg.right;
            if (size[l] == 0 || size[r] == 0) {
                continue;
            }
            // Stale if either side changed since queued: compare the current text with the queued one.
            if (size[l] + size[r] != bg.text.length()
                    || !word.regionMatches(start[l], bg.text, 0, size[l])
                    || !word.regionMatches(start[r], bg.text, size[l], size[r])) {
                continue;
            }
            size[l] += size[r];
            size[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            addBigram(word, start, size, prev[l], l, queue);
            addBigram(word, start, size, l, next[l], queue);
        }
        for (int i = 0; i != -1; i = next[i]) {
            String sym = word.substring(start[i], start[i] + size[i]);
            int id = idOf(sym);
            if (id >= 0) {
                out.add(id);
                continue;
            }
            // Not a token: spell it one byte at a time (llama.cpp does the same, skipping bytes it cannot spell).
            for (int c = 0; c < sym.length(); c++) {
                int bt = idOf(sym.substring(c, c + 1));
                if (bt >= 0) {
                    out.add(bt);
                } else if (unk >= 0) {
                    out.add(unk);
                }
            }
        }
    }

    private void addBigram(String word, int[] start, int[] size, int left, int right, PriorityQueue<Bigram> queue) {
        if (left == -1 || right == -1) {
            return;
        }
        String l = word.substring(start[left], start[left] + size[left]);
        String r = word.substring(start[right], start[right] + size[right]);
        Integer rank = ranks.get(l + '\0' + r);
        if (rank != null) {
            queue.add(new Bigram(left, right, rank, l + r));
        }
    }
}
