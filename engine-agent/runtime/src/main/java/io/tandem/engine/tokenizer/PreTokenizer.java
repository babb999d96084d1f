package io.tandem.engine.tokenizer;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into words before byte-level BPE runs, with the regex set llama.cpp selects from
 * {@code tokenizer.ggml.pre} ({@code llm_tokenizer_bpe}'s constructor). Regexes apply in sequence, each one within
 * the pieces the previous produced; text between matches is kept as its own piece ({@code unicode_regex_split}).
 * A piece boundary hides what follows from lookaheads, as in llama.cpp, hence opaque matcher bounds.
 *
 * <p>{@code \s} is Unicode whitespace ({@link Pattern#UNICODE_CHARACTER_CLASS}), matching llama.cpp's own
 * whitespace table rather than Java's ASCII default. Immutable and thread-safe (patterns are shared, matchers
 * are per call).
 */
final class PreTokenizer {

    private static final System.Logger LOG = System.getLogger(PreTokenizer.class.getName());

    private static final String GPT2 =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    private static final String LLAMA3 =
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2 =
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                    + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final Set<String> LLAMA3_NAMES = Set.of(
            "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2");
    private static final Set<String> QWEN2_NAMES = Set.of("qwen2", "deepseek-r1-qwen", "megrez");
    private static final Set<String> STARCODER_NAMES = Set.of(
            "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b");
    private static final Set<String> GPT2_NAMES = Set.of(
            "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
            "jina-v2-code", "roberta-bpe");

    private final List<Pattern> patterns;
    private final boolean ignoreMerges;
    private final String name;

    private PreTokenizer(String name, boolean ignoreMerges, String... regexes) {
        this.name = name;
        this.ignoreMerges = ignoreMerges;
        this.patterns = java.util.Arrays.stream(regexes)
                .map(r -> Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS))
                .toList();
    }

    static boolean isLlama3(String pre) {
        return pre != null && LLAMA3_NAMES.contains(pre);
    }

    /** The pre-tokenizer for a {@code tokenizer.ggml.pre} value; unknown names get GPT-2's with a warning. */
    static PreTokenizer forName(String pre) {
        if (pre == null || pre.isEmpty() || pre.equals("default")) {
            // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT: punctuation runs, then GPT-2, then digits.
            return new PreTokenizer("default", false,
                    "[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]");
        }
        if (LLAMA3_NAMES.contains(pre)) {
            // Llama 3 looks a whole word up in the vocabulary before merging (ignore_merges).
            return new PreTokenizer(pre, true, LLAMA3);
        }
        if (QWEN2_NAMES.contains(pre)) {
            return new PreTokenizer(pre, false, QWEN2);
        }
        if (STARCODER_NAMES.contains(pre)) {
            return new PreTokenizer(pre, false, "\\p{N}", GPT2);
        }
        if (!GPT2_NAMES.contains(pre)) {
            LOG.log(Level.WARNING, "unknown BPE pre-tokenizer ''{0}''; using GPT-2''s, ids may differ from llama.cpp", pre);
        }
        return new PreTokenizer(pre, false, GPT2);
    }

    boolean ignoreMerges() {
        return ignoreMerges;
    }

    String name() {
        return name;
    }

    /** The words of {@code text}, in order; they concatenate back to {@code text}. */
    List<String> split(String text) {
        List<int[]> pieces = new ArrayList<>();
        if (text.isEmpty()) {
            return List.of();
        }
        pieces.add(new int[] {0, text.length()});
        for (Pattern p : patterns) {
            List<int[]> next = new ArrayList<>(pieces.size() * 2);
            Matcher m = p.matcher(text);
            for (int[] piece : pieces) {
                int s = piece[0];
                int e = piece[1];
                m.region(s, e); // opaque bounds by default: lookaheads stop at the piece's end
                int last = s;
                while (m.find()) {
                    if (m.end() == m.start()) {
                        continue;
                    }
                    if (m.start() > last) {
                        next.add(new int[] {last, m.start()});
                    }
                    next.add(new int[] {m.start(), m.end()});
                    last = m.end();
                }
                if (last < e) {
                    next.add(new int[] {last, e});
                }
            }
            pieces = next;
        }
        List<String> words = new ArrayList<>(pieces.size());
        for (int[] piece : pieces) {
            words.add(text.substring(piece[0], piece[1]));
        }
        return words;
    }
}
