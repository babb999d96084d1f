package io.tandem.engine.generator;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A GPT-2 style byte-level BPE vocabulary for generated models: the 256 byte tokens (in GPT-2's printable
 * byte-to-unicode form), then merges, then the special tokens. Merges join two existing printable tokens
 * (letters, or a space-prefixed word start and letters), chosen by a seeded generator so that every token
 * decodes to readable text and the same seed gives the same vocabulary.
 */
final class ByteLevelVocab {
    static final String EOS = "<|endoftext|>";
    static final String IM_START = "<|im_start|>";
    static final String IM_END = "<|im_end|>";
    static final String THINK = "<think>";
    static final String END_THINK = "</think>";
    static final List<String> SPECIALS = List.of(EOS, IM_START, IM_END, THINK, END_THINK);
    /** Bytes, a few merges, the specials. */
    static final int MIN_VOCAB = 256 + SPECIALS.size() + 16;

    static final int TYPE_NORMAL = 1;
    static final int TYPE_CONTROL = 3;
    static final int TYPE_USER_DEFINED = 4;

    final List<String> tokens = new ArrayList<>();
    final List<String> merges = new ArrayList<>();
    final int[] types;

    ByteLevelVocab(int vocabSize, long seed) {
        String[] byteChars = byteToUnicode();
        Set<String> seen = new HashSet<>();
        List<String> letters = new ArrayList<>();
        List<String> starts = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(byteChars[b]);
            seen.add(byteChars[b]);
            if (Character.isLetter(b) && b < 128) {
                letters.add(byteChars[b]);
            }
        }
        String space = byteChars[' '];
        // Word starts first (" a", " b", ...), so that text splits into space-led words as real vocabularies do.
        for (String l : List.copyOf(letters)) {
            addMerge(space, l, seen, starts);
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        int target = vocabSize - SPECIALS.size();
        List<String> pieces = new ArrayList<>(letters);
        int attempts = 0;
        while (tokens.size() < target) {
            boolean wordStart = rnd.nextInt(3) == 0;
            List<String> left = wordStart ? starts : pieces;
            String a = left.get(rnd.nextInt(left.size()));
            String b = letters.get(rnd.nextInt(letters.size()));
            if (rnd.nextInt(4) == 0 && pieces.size() > letters.size()) {
                b = pieces.get(rnd.nextInt(pieces.size()));
            }
            if (a.length() + b.length() <= 10 && !seen.contains(a + b)) {
                addMerge(a, b, seen, wordStart ? starts : pieces);
            } else if (++attempts > 50 * vocabSize) {
                throw new IllegalStateException("could not grow the vocabulary to " + vocabSize);
            }
        }
        tokens.addAll(SPECIALS);
        types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) {
            types[i] = TYPE_NORMAL;
        }
        for (int i = 0; i < SPECIALS.size(); i++) {
            String s = SPECIALS.get(i);
            types[target + i] = s.startsWith("<|") ? TYPE_CONTROL : TYPE_USER_DEFINED;
        }
    }

    private void addMerge(String a, String b, Set<String> seen, List<String> into) {
        String t = a + b;
        if (seen.add(t)) {
            tokens.add(t);
            merges.add(a + " " + b);
            into.add(t);
        }
    }

    int id(String token) {
        return tokens.indexOf(token);
    }

    /** GPT-2's reversible map from bytes to printable unicode characters. */
    static String[] byteToUnicode() {
        String[] map = new String[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? String.valueOf((char) b) : String.valueOf((char) (256 + n++));
        }
        return map;
    }
}
