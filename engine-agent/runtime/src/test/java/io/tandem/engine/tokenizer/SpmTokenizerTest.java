package io.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** SentencePiece on the real stories260K vocabulary (512 tokens, byte fallback, BOS=1, EOS=2). */
class SpmTokenizerTest {

    private static TokenizerSpec spec;
    private static Tokenizer tok;

    @BeforeAll
    static void load() throws Exception {
        Map<String, Object> kv = TestGgufMetadata.read(TestGgufMetadata.sharedModel("stories260K.gguf"));
        spec = TokenizerSpec.fromMetadata(kv::get);
        tok = Tokenizers.create(spec);
    }

    @Test
    void metadataGivesLlamaDefaults() {
        assertThat(spec.model()).isEqualTo("llama");
        assertThat(spec.tokens()).hasSize(512);
        assertThat(spec.bosId()).isEqualTo(1);
        assertThat(spec.eosId()).isEqualTo(2);
        assertThat(spec.unkId()).isZero();
        assertThat(spec.padId()).as("u32 0xFFFFFFFF means none").isEqualTo(-1);
        assertThat(spec.addBos()).as("SPM default").isTrue();
        assertThat(spec.addSpacePrefix()).as("SPM default").isTrue();
        assertThat(tok.vocabSize()).isEqualTo(512);
        assertThat(tok.addsBos()).isTrue();
    }

    @Test
    void onceUponATime() {
        // ▁Once ▁upon ▁a ▁time: each a single vocabulary piece.
        assertThat(tok.encode("Once upon a time", true, false)).containsExactly(1, 403, 407, 261, 378);
        assertThat(tok.encode("Once upon a time", false, false)).containsExactly(403, 407, 261, 378);
    }

    @Test
    void handCheckedMerges() {
        // ▁He ll o , ▁w or ld ! — derived with an independent greedy merge over the vocabulary's scores.
        int[] ids = tok.encode("Hello, world!", true, false);
        assertThat(ids).containsExactly(1, 346, 306, 414, 432, 263, 304, 341, 443);
        assertThat(pieces(ids)).containsExactly("<s>", "▁He", "ll", "o", ",", "▁w", "or", "ld", "!");
        assertThat(ids).containsExactly(referenceEncode("Hello, world!"));
    }

    @Test
    void byteFallbackForCharactersOutsideTheVocabulary() {
        // The stories vocabulary has no CJK or emoji: each becomes its UTF-8 bytes as <0xNN> tokens.
        int[] ids = tok.encode("日本 🙂", true, false);
        assertThat(pieces(ids)).containsExactly("<s>", "▁", "<0xE6>", "<0x97>", "<0xA5>", "<0xE6>", "<0x9C>", "<0xAC>",
                "▁", "<0xF0>", "<0x9F>", "<0x99>", "<0x82>");
    }

    @Test
    void agreesWithBruteForceGreedyMerging() {
        // The priority-queue algorithm must pick the same merges as the obvious quadratic one:
        // repeatedly merge the adjacent pair that is a token with the highest score, leftmost on ties.
        List<String> samples = new ArrayList<>(List.of("Lily and Tom went to the park", "a  b", " Hi", "",
                "The quick brown fox jumps over the lazy dog.", "She said: \"Don't go!\"\n\nThen 42 cats",
                "ünïcödé and 日本語 and 🙂🙃"));
        Random rnd = new Random(42);
        for (int i = 0; i < 200; i++) {
            StringBuilder sb = new StringBuilder();
            int words = 1 + rnd.nextInt(6);
            for (int w = 0; w < words; w++) {
                String piece = tok.tokenText(259 + rnd.nextInt(512 - 259)).replace('▁', ' ');
                sb.append(piece);
                if (rnd.nextInt(3) == 0) sb.append(' ');
            }
            samples.add(sb.toString());
        }
        for (String s : samples) {
            assertThat(tok.encode(s, true, false)).as("encode(%s)", s).containsExactly(referenceEncode(s));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Once upon a time", "Hello, world!", "  two leading spaces", "tabs\tand\nnewlines\n",
            "日本語のテキスト", "emoji 🙂🙃 and 👩‍👩‍👧", "mixed: café, naïve, 中文, ✓", "trailing space "})
    void roundTrips(String text) {
        assertThat(tok.decode(tok.encode(text, true, false), true)).isEqualTo(text);
        assertThat(tok.decode(tok.encode(text, false, false), true)).isEqualTo(text);
        assertThat(tok.decode(tok.encode(text, true, false), false)).isEqualTo("<s>" + text);
    }

    @Test
    void parseSpecialRecognisesControlTokenTexts() {
        assertThat(pieces(tok.encode("<s>Hi", false, true))).containsExactly("<s>", "▁H", "i");
        assertThat(pieces(tok.encode("<s>Hi", false, false))).containsExactly("▁", "<", "s", ">", "H", "i");
        assertThat(pieces(tok.encode("Hi</s>", true, true))).containsExactly("<s>", "▁H", "i", "</s>");
        // Not special: the text survives a round trip as plain text.
        assertThat(tok.decode(tok.encode("a</s>b", true, false), true)).isEqualTo("a</s>b");
    }

    @Test
    void emptyTextIsJustBos() {
        assertThat(tok.encode("", true, false)).containsExactly(1);
        assertThat(tok.encode("", false, false)).isEmpty();
    }

    @Test
    void tokenBytesAndProperties() {
        assertThat(tok.tokenBytes(3 + 0x41)).containsExactly('A');
        assertThat(tok.tokenBytes(403)).isEqualTo(" Once".getBytes(StandardCharsets.UTF_8));
        assertThat(tok.tokenBytes(1)).isEqualTo("<s>".getBytes(StandardCharsets.UTF_8));
        assertThat(tok.tokenText(403)).isEqualTo("▁Once");
        assertThat(tok.tokenId("▁Once")).hasValue(403);
        assertThat(tok.tokenId("nope")).isEmpty();
        assertThat(tok.isControl(1)).isTrue();
        assertThat(tok.isControl(403)).isFalse();
        assertThat(tok.isEndOfGeneration(2)).isTrue();
        assertThat(tok.isEndOfGeneration(1)).isFalse();
        assertThat(tok.bosId()).isEqualTo(1);
        assertThat(tok.eosId()).isEqualTo(2);
        assertThat(tok.decode(new int[] {1, 403, 2}, true)).isEqualTo("Once");
        assertThat(tok.decode(new int[] {1, 403, 2}, false)).isEqualTo("<s>Once</s>");
    }

    @Test
    void rejectsIdsOutsideTheVocabulary() {
        assertThatThrownBy(() -> tok.decode(new int[] {1, 512}, true))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("token id 512 is outside the vocabulary [0, 512)");
        assertThatThrownBy(() -> tok.tokenBytes(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void streamingMatchesDecodeAndHoldsPartialCharacters() {
        String text = "Hi 🙂 日本, done";
        int[] ids = tok.encode(text, true, false);
        StreamingDetokenizer sd = tok.newStreamingDetokenizer(true);
        StringBuilder sb = new StringBuilder();
        List<String> emitted = new ArrayList<>();
        for (int id : ids) {
            String s = sd.feed(id);
            emitted.add(s);
            sb.append(s);
        }
        sb.append(sd.flush());
        assertThat(sb.toString()).isEqualTo(tok.decode(ids, true)).isEqualTo(text);
        // No chunk ever contains a broken character, and the emoji's four byte tokens emit once, whole.
        assertThat(emitted).noneMatch(s -> s.contains("\uFFFD"));
        assertThat(emitted).contains("🙂");
    }

    @Test
    void streamingFlushReleasesAnUnfinishedCharacter() {
        StreamingDetokenizer sd = tok.newStreamingDetokenizer(true);
        assertThat(sd.feed(3 + 0xF0)).isEmpty();
        assertThat(sd.feed(3 + 0x9F)).isEmpty();
        assertThat(sd.flush()).isEqualTo(tok.decode(new int[] {3 + 0xF0, 3 + 0x9F}, true));
    }

    private static List<String> pieces(int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) out.add(tok.tokenText(id));
        return out;
    }

    /** Quadratic greedy SentencePiece, written from the algorithm's definition, as a cross-check. */
    private static int[] referenceEncode(String text) {
        List<String> syms = new ArrayList<>();
        String s = text.isEmpty() ? "" : (" " + text).replace(' ', '▁');
        s.codePoints().forEach(cp -> syms.add(new String(Character.toChars(cp))));
        float[] scores = spec.scores();
        while (true) {
            int best = -1;
            float bestScore = Float.NEGATIVE_INFINITY;
            for (int i = 0; i + 1 < syms.size(); i++) {
                var id = tok.tokenId(syms.get(i) + syms.get(i + 1));
                if (id.isPresent() && (best < 0 || scores[id.getAsInt()] > bestScore)) {
                    best = i;
                    bestScore = scores[id.getAsInt()];
                }
            }
            if (best < 0) break;
            syms.set(best, syms.get(best) + syms.remove(best + 1));
        }
        List<Integer> ids = new ArrayList<>(List.of(1));
        for (String sym : syms) {
            var id = tok.tokenId(sym);
            if (id.isPresent()) {
                ids.add(id.getAsInt());
            } else {
                for (byte b : sym.getBytes(StandardCharsets.UTF_8)) {
                    ids.add(tok.tokenId(String.format("<0x%02X>", b & 0xFF)).orElseThrow());
                }
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }
}
