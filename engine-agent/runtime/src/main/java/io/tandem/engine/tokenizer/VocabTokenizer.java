package io.tandem.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * What SentencePiece and byte-level BPE share, following llama.cpp's {@code llama_vocab}: the id/text maps, the
 * special-token bookkeeping (end-of-generation set, control promotion), splitting special token texts out of the
 * input before the model-specific algorithm runs ({@code tokenizer_st_partition}), and detokenization
 * ({@code token_to_piece} / {@code detokenize}).
 *
 * <p>Immutable after construction (all fields final, arrays never exposed), hence thread-safe.
 */
abstract sealed class VocabTokenizer implements Tokenizer permits SpmTokenizer, BpeTokenizer {

    /**
     * Texts llama.cpp treats as end-of-generation whatever the metadata says, because many conversions forget to
     * mark them ({@code llama_vocab::impl::load}, "maintain a list of tokens that cause end-of-generation").
     */
    private static final List<String> EOG_TEXTS = List.of(
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
            "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>");

    /** Texts llama.cpp takes as the end-of-turn token when {@code tokenizer.ggml.eot_token_id} is absent. */
    private static final List<String> EOT_TEXTS = List.of(
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
            "<｜end▁of▁sentence｜>");

    private static final byte[] EMPTY = new byte[0];

    final String[] texts;
    final int[] types;
    final Map<String, Integer> idByText;
    final int bos;
    final int eos;
    final int unk;
    final int eot;
    final boolean addBos;
    final boolean addEos;
    final boolean addSpacePrefix;
    private final BitSet eog = new BitSet();
    /** Control, user-defined and unknown tokens, longest text first: the order llama.cpp splits them out. */
    private final int[] specialByLength;
    /** Bytes of every token as rendered with specials shown ({@code token_to_piece(..., special=true)}). */
    private final byte[][] pieces;

    VocabTokenizer(TokenizerSpec spec) {
        List<String> tokenList = spec.tokens();
        int n = tokenList.size();
        this.texts = tokenList.toArray(String[]::new);
        int[] specTypes = spec.tokenTypes();
        this.types = new int[n];
        for (int i = 0; i < n; i++) {
            int t = specTypes == null ? TokenType.NORMAL : specTypes[i];
            // llama.cpp maps an undefined type to normal.
            types[i] = t == TokenType.UNDEFINED ? TokenType.NORMAL : t;
        }
        this.idByText = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            idByText.put(texts[i], i); // last wins, as llama.cpp's token_to_id assignment
        }
        this.bos = spec.bosId();
        this.eos = spec.eosId();
        this.unk = spec.unkId();
        this.addBos = spec.addBos();
        this.addEos = spec.addEos();
        this.addSpacePrefix = spec.addSpacePrefix();

        int eotId = spec.eotId();
        if (eotId < 0) {
            for (String t : EOT_TEXTS) {
                Integer id = idByText.get(t);
                if (id != null) {
                    eotId = id;
                    break;
                }
            }
        }
        this.eot = eotId;
        for (String t : EOG_TEXTS) {
            Integer id = idByText.get(t);
            if (id != null) {
                eog.set(id);
                // llama.cpp promotes these to control so they are hidden by skipSpecial and not matched as plain text.
                types[id] = TokenType.CONTROL;
            }
        }
        if (eos >= 0) eog.set(eos);
        if (eot >= 0) eog.set(eot);

        List<Integer> special = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int t = types[i];
            if ((t == TokenType.CONTROL || t == TokenType.USER_DEFINED || t == TokenType.UNKNOWN) && !texts[i].isEmpty()) {
                special.add(i);
            }
        }
        Comparator<Integer> byLengthDesc = Comparator.comparingInt(
                (Integer i) -> texts[i].getBytes(StandardCharsets.UTF_8).length).reversed();
        special.sort(byLengthDesc.thenComparingInt(i -> i));
        this.specialByLength = special.stream().mapToInt(Integer::intValue).toArray();

        this.pieces = new byte[n][];
    }

    /** Fills the piece cache; called by subclasses once their own state is ready. */
    final void initPieces() {
        for (int i = 0; i < texts.length; i++) {
            pieces[i] = switch (types[i]) {
                case TokenType.CONTROL, TokenType.UNKNOWN, TokenType.USER_DEFINED ->
                        texts[i].getBytes(StandardCharsets.UTF_8);
                case TokenType.NORMAL -> normalPiece(texts[i]);
                case TokenType.BYTE -> bytePiece(texts[i]);
                default -> EMPTY; // unused (and unknown type numbers) render as nothing, as in llama.cpp
            };
        }
    }

    /** Bytes of a normal token. */
    abstract byte[] normalPiece(String text);

    /** Bytes of a byte-type token. */
    abstract byte[] bytePiece(String text);

    /** Appends the ids of a fragment of plain text (no special tokens in it). */
    abstract void encodeFragments(List<Fragment> fragments, boolean addSpecial, IntList out);

    /** A piece of input: either plain text ({@code token == -1}) or a special token found in it. */
    record Fragment(int token, String text) {
        boolean isText() {
            return token < 0;
        }
    }

    @Override
    public final int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        Objects.requireNonNull(text, "text must not be null");
        IntList out = new IntList();
        encodeFragments(partition(text, parseSpecial), addSpecial, out);
        return out.toArray();
    }

    /**
     * llama.cpp's {@code tokenizer_st_partition}: each special token, longest first, is cut out of the text
     * fragments that remain. Control and unknown tokens only when {@code parseSpecial}; user-defined always.
     */
    final List<Fragment> partition(String text, boolean parseSpecial) {
        List<Fragment> frags = new ArrayList<>();
        if (!text.isEmpty()) {
            frags.add(new Fragment(-1, text));
        }
        for (int id : specialByLength) {
            int t = types[id];
            if (!parseSpecial && (t == TokenType.CONTROL || t == TokenType.UNKNOWN)) {
                continue;
            }
            String needle = texts[id];
            List<Fragment> next = null;
            for (int f = 0; f < frags.size(); f++) {
                Fragment frag = frags.get(f);
                int at = frag.isText() ? frag.text().indexOf(needle) : -1;
                if (at < 0) {
                    if (next != null) next.add(frag);
                    continue;
                }
                if (next == null) {
                    next = new ArrayList<>(frags.subList(0, f));
                }
                String s = frag.text();
                int from = 0;
                while (at >= 0) {
                    if (at > from) next.add(new Fragment(-1, s.substring(from, at)));
                    next.add(new Fragment(id, null));
                    from = at + needle.length();
                    at = s.indexOf(needle, from);
                }
                if (from < s.length()) next.add(new Fragment(-1, s.substring(from)));
            }
            if (next != null) frags = next;
        }
        return frags;
    }

    final boolean hasToken(String text) {
        return idByText.containsKey(text);
    }

    final int idOf(String text) {
        Integer id = idByText.get(text);
        return id == null ? -1 : id;
    }

    /** Bytes of one token as decode renders it: control and unknown tokens vanish when {@code skipSpecial}. */
    final byte[] piece(int id, boolean skipSpecial) {
        checkId(id);
        if (skipSpecial && (types[id] == TokenType.CONTROL || types[id] == TokenType.UNKNOWN)) {
            return EMPTY;
        }
        return pieces[id];
    }

    final void checkId(int id) {
        if (id < 0 || id >= texts.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + texts.length + ")");
        }
    }

    @Override
    public final String decode(int[] ids, boolean skipSpecial) {
        Objects.requireNonNull(ids, "ids must not be null");
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        LeadingSpace lead = new LeadingSpace();
        for (int id : ids) {
            lead.write(this, id, piece(id, skipSpecial), out);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /**
     * Removes the space that SentencePiece's space prefix put in front of the first word: from the first token,
     * or the first after a leading BOS. Shared by {@link #decode} and {@link StreamingDetokenizer} so both agree.
     * llama.cpp's {@code detokenize} strips it only without a leading BOS; we strip it in both cases so that
     * {@code decode(encode(text, true, ...))} gives back {@code text}, as Hugging Face's SentencePiece decode does.
     */
    static final class LeadingSpace {
        private boolean atStart;

        LeadingSpace() {
            this(true);
        }

        /** {@code atStart} false: the text continues earlier text, so no leading space is removed. */
        LeadingSpace(boolean atStart) {
            this.atStart = atStart;
        }

        void write(VocabTokenizer tok, int id, byte[] piece, ByteArrayOutputStream out) {
            if (atStart && id == tok.bos) {
                out.writeBytes(piece);
                return;
            }
            if (atStart) {
                atStart = false;
                if (tok.addSpacePrefix && piece.length > 0 && piece[0] == ' ') {
                    out.write(piece, 1, piece.length - 1);
                    return;
                }
            }
            out.writeBytes(piece);
        }
    }

    @Override
    public final StreamingDetokenizer newStreamingDetokenizer(boolean skipSpecial) {
        return new StreamingDetokenizer(this, skipSpecial, false);
    }

    @Override
    public final StreamingDetokenizer newContinuationDetokenizer(boolean skipSpecial) {
        return new StreamingDetokenizer(this, skipSpecial, true);
    }

    @Override
    public final byte[] tokenBytes(int id) {
        return piece(id, false).clone();
    }

    @Override
    public final String tokenText(int id) {
        checkId(id);
        return texts[id];
    }

    @Override
    public final int vocabSize() {
        return texts.length;
    }

    @Override
    public final int bosId() {
        return bos;
    }

    @Override
    public final int eosId() {
        return eos;
    }

    @Override
    public final boolean isControl(int id) {
        checkId(id);
        return types[id] == TokenType.CONTROL;
    }

    @Override
    public final boolean isEndOfGeneration(int id) {
        return id >= 0 && eog.get(id);
    }

    @Override
    public final OptionalInt tokenId(String text) {
        Objects.requireNonNull(text, "text must not be null");
        Integer id = idByText.get(text);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    @Override
    public final boolean addsBos() {
        return addBos && bos >= 0;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[vocab=" + texts.length + ", bos=" + bos + ", eos=" + eos + ", eot=" + eot
                + ", eog=" + Arrays.toString(eog.stream().toArray()) + "]";
    }
}
