package io.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.tandem.engine.errors.UnsupportedTokenizerException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Byte-level BPE with a hand-made vocabulary: the 256 byte characters, a few merges, and special tokens. */
class BpeTokenizerTest {

    private static final List<String> MERGES = List.of(
            "h e", "l l", "ll o", "he llo", // hello
            "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", // Ġworld
            "1 2", "3 4", "12 3", "4 5", // digits: the pre-tokenizer decides which apply
            "e l"); // lower rank than "h e": must lose the fight over "hel"

    private static final List<String> EXTRA = List.of(
            "he", "ll", "llo", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld", "12", "34", "123", "45", "el",
            "xyz", // in the vocabulary but not reachable by merges: only Llama 3's ignore_merges finds it
            "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>");

    static TokenizerSpec spec(String pre) {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(ByteLevel.charOf(b));
        }
        tokens.addAll(EXTRA);
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, 1);
        int eot = tokens.indexOf("<|endoftext|>");
        types[eot] = 3;
        types[tokens.indexOf("<|im_start|>")] = 3;
        types[tokens.indexOf("<|im_end|>")] = 3;
        types[tokens.indexOf("<tool>")] = 4;
        return new TokenizerSpec("gpt2", pre, tokens, null, types, MERGES, eot, eot, -1, -1, -1,
                false, false, false, null);
    }

    private static Tokenizer tok(String pre) {
        return Tokenizers.create(spec(pre));
    }

    private static List<String> pieces(Tokenizer t, int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) out.add(t.tokenText(id));
        return out;
    }

    @Test
    void mergesApplyByRank() {
        Tokenizer t = tok("gpt2");
        assertThat(pieces(t, t.encode("hello world", false, false))).containsExactly("hello", "Ġworld");
        // "h e" outranks "e l", so "hel" is he+l, never h+el.
        assertThat(pieces(t, t.encode("hel", false, false))).containsExactly("he", "l");
        // Equal ranks: the leftmost pair merges first.
        assertThat(pieces(t, t.encode("lll", false, false))).containsExactly("ll", "l");
        // A space becomes Ġ, merged only where a merge says so.
        assertThat(pieces(t, t.encode(" hello", false, false))).containsExactly("Ġ", "hello");
    }

    @Test
    void preTokenizerDecidesWhichMergesCanApply() {
        // GPT-2 keeps 12345 as one word: 1 2, then 3 4 (outranks 12 3), so 12|34|5.
        Tokenizer gpt2 = tok("gpt2");
        assertThat(pieces(gpt2, gpt2.encode("12345", false, false))).containsExactly("12", "34", "5");
        // Llama 3 splits digits in threes: 123|45.
        Tokenizer llama3 = tok("llama-bpe");
        assertThat(pieces(llama3, llama3.encode("12345", false, false))).containsExactly("123", "45");
        // Qwen 2 splits every digit.
        Tokenizer qwen2 = tok("qwen2");
        assertThat(pieces(qwen2, qwen2.encode("12345", false, false))).containsExactly("1", "2", "3", "4", "5");
        // SmolLM (StarCoder rules) also isolates digits.
        Tokenizer smollm = tok("smollm");
        assertThat(pieces(smollm, smollm.encode("12345", false, false))).containsExactly("1", "2", "3", "4", "5");
    }

    @Test
    void llama3LooksWholeWordsUpBeforeMerging() {
        assertThat(pieces(tok("llama3"), tok("llama3").encode("xyz", false, false))).containsExactly("xyz");
        assertThat(pieces(tok("gpt2"), tok("gpt2").encode("xyz", false, false))).containsExactly("x", "y", "z");
    }

    @Test
    void preTokenizerSplitsLikeTheReferenceRegexes() {
        // Expected values from Python's `regex` module running llama.cpp's regexes (the Hugging Face semantics).
        String text = "Hello world!\n\n  I'm 12345 日本語🙂 x\t\ty  ";
        assertThat(PreTokenizer.forName("gpt-2").split(text)).containsExactly(
                "Hello", " world", "!", "\n\n ", " I", "'m", " 12345", " 日本語", "🙂", " x", "\t", "\t", "y", "  ");
        assertThat(PreTokenizer.forName("llama3").split(text)).containsExactly(
                "Hello", " world", "!\n\n", " ", " I", "'m", " ", "123", "45", " 日本語", "🙂", " x", "\t", "\ty", "  ");
        assertThat(PreTokenizer.forName("qwen2").split(text)).containsExactly(
                "Hello", " world", "!\n\n", " ", " I", "'m", " ", "1", "2", "3", "4", "5", " 日本語", "🙂", " x", "\t",
                "\ty", "  ");
        assertThat(PreTokenizer.forName("smollm").split(text)).containsExactly(
                "Hello", " world", "!", "\n\n ", " I", "'m", " ", "1", "2", "3", "4", "5", " 日本語", "🙂", " x", "\t",
                "\t", "y", "  ");
        assertThat(PreTokenizer.forName("no-such-pre").name()).isEqualTo("no-such-pre");
        assertThat(PreTokenizer.forName("no-such-pre").split(text))
                .as("unknown names fall back to GPT-2").isEqualTo(PreTokenizer.forName("gpt-2").split(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama-bpe", "qwen2", "smollm", "default"})
    void roundTripsAnyText(String pre) {
        Tokenizer t = tok(pre);
        for (String text : List.of("hello world", "日本語のテキスト", "emoji 🙂🙃 👩‍👩‍👧", "  leading\tand trailing  ",
                "lines\n\n\r\nmore\n", "I'm 12345, you're 6.", "", "<|im_start|>user\nHi<|im_end|>")) {
            int[] ids = t.encode(text, false, false);
            assertThat(t.decode(ids, false)).as("%s round trip of %s", pre, text).isEqualTo(text);
            StringBuilder sb = new StringBuilder();
            StreamingDetokenizer sd = t.newStreamingDetokenizer(false);
            for (int id : ids) {
                String s = sd.feed(id);
                assertThat(s).doesNotContain("\uFFFD");
                sb.append(s);
            }
            assertThat(sb.append(sd.flush()).toString()).isEqualTo(text);
        }
    }

    @Test
    void multiByteCharactersAreSplitAcrossByteTokensAndStreamWhole() {
        Tokenizer t = tok("gpt2");
        int[] ids = t.encode("🙂", false, false);
        assertThat(ids).hasSize(4); // no merges for its bytes: one token per byte
        StreamingDetokenizer sd = t.newStreamingDetokenizer(true);
        assertThat(sd.feed(ids[0])).isEmpty();
        assertThat(sd.feed(ids[1])).isEmpty();
        assertThat(sd.feed(ids[2])).isEmpty();
        assertThat(sd.feed(ids[3])).isEqualTo("🙂");
        assertThat(t.tokenBytes(ids[0])).containsExactly((byte) 0xF0);
        assertThat(t.tokenBytes(t.tokenId("Ġworld").orElseThrow())).isEqualTo(" world".getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void parseSpecialOnAndOff() {
        Tokenizer t = tok("qwen2");
        int start = t.tokenId("<|im_start|>").orElseThrow();
        int end = t.tokenId("<|im_end|>").orElseThrow();
        int[] parsed = t.encode("<|im_start|>hello<|im_end|>", false, true);
        assertThat(pieces(t, parsed)).containsExactly("<|im_start|>", "hello", "<|im_end|>");
        int[] plain = t.encode("<|im_start|>hello<|im_end|>", false, false);
        assertThat(plain).doesNotContain(start, end);
        assertThat(t.decode(plain, true)).isEqualTo("<|im_start|>hello<|im_end|>");
        assertThat(t.decode(parsed, true)).as("control tokens skipped").isEqualTo("hello");
        assertThat(t.decode(parsed, false)).isEqualTo("<|im_start|>hello<|im_end|>");
        // User-defined tokens are split out even without parseSpecial, as llama.cpp does.
        assertThat(pieces(t, t.encode("a<tool>b", false, false))).containsExactly("a", "<tool>", "b");
    }

    @Test
    void specialTokenPropertiesAndEndOfGeneration() {
        Tokenizer t = tok("gpt2");
        int eot = t.tokenId("<|endoftext|>").orElseThrow();
        int imEnd = t.tokenId("<|im_end|>").orElseThrow();
        assertThat(t.isEndOfGeneration(eot)).isTrue();
        assertThat(t.isEndOfGeneration(imEnd)).as("llama.cpp's end-of-generation texts").isTrue();
        assertThat(t.isEndOfGeneration(t.tokenId("hello").orElseThrow())).isFalse();
        assertThat(t.isControl(imEnd)).isTrue();
        assertThat(t.addsBos()).isFalse();
        assertThat(t.encode("hello", true, false)).containsExactly(t.tokenId("hello").orElseThrow());
    }

    @Test
    void addBosAndEosWhenTheSpecSaysSo() {
        TokenizerSpec s = spec("llama3");
        TokenizerSpec withBos = new TokenizerSpec(s.model(), s.pre(), s.tokens(), null, s.tokenTypes(), s.merges(),
                s.bosId(), s.eosId(), -1, -1, -1, true, true, false, null);
        Tokenizer t = Tokenizers.create(withBos);
        int eot = t.tokenId("<|endoftext|>").orElseThrow();
        assertThat(t.encode("hello", true, false)).containsExactly(eot, t.tokenId("hello").orElseThrow(), eot);
        assertThat(t.encode("hello", false, false)).containsExactly(t.tokenId("hello").orElseThrow());
    }

    @Test
    void fromMetadataConvertsLooselyTypedValuesAndAppliesBpeDefaults() {
        TokenizerSpec base = spec("llama-bpe");
        Map<String, Object> kv = new HashMap<>();
        kv.put("tokenizer.ggml.model", "gpt2");
        kv.put("tokenizer.ggml.pre", "llama-bpe");
        kv.put("tokenizer.ggml.tokens", base.tokens().toArray(String[]::new));
        long[] types = new long[base.tokens().size()];
        for (int i = 0; i < types.length; i++) types[i] = base.tokenTypes()[i];
        kv.put("tokenizer.ggml.token_type", types);
        kv.put("tokenizer.ggml.merges", base.merges());
        kv.put("tokenizer.ggml.eos_token_id", (long) base.eosId());
        kv.put("tokenizer.ggml.padding_token_id", 0xFFFFFFFFL);
        kv.put("tokenizer.chat_template", "{{ x }}");
        TokenizerSpec s = TokenizerSpec.fromMetadata(kv::get);
        assertThat(s.eosId()).isEqualTo(base.eosId());
        assertThat(s.padId()).isEqualTo(-1);
        assertThat(s.unkId()).isEqualTo(-1);
        assertThat(s.bosId()).as("llama.cpp's legacy GPT-2 default").isEqualTo(11);
        assertThat(s.addBos()).as("Llama 3 pre-tokenizers add BOS by default").isTrue();
        assertThat(s.addSpacePrefix()).isFalse();
        assertThat(s.chatTemplate()).isEqualTo("{{ x }}");
        assertThat(s.tokenTypes()).isEqualTo(base.tokenTypes());

        kv.put("tokenizer.ggml.pre", "qwen2");
        kv.put("tokenizer.ggml.add_bos_token", Boolean.FALSE);
        assertThat(TokenizerSpec.fromMetadata(kv::get).addBos()).isFalse();
        kv.remove("tokenizer.ggml.add_bos_token");
        assertThat(TokenizerSpec.fromMetadata(kv::get).addBos()).as("BPE default").isFalse();
    }

    @Test
    void argumentChecks() {
        assertThatThrownBy(() -> new TokenizerSpec("gpt2", null, List.of("a"), new float[2], null, List.of(),
                -1, -1, -1, -1, -1, false, false, false, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("scores has 2 entries but the vocabulary has 1 tokens");
        assertThatThrownBy(() -> new TokenizerSpec("gpt2", null, List.of("a"), null, null, List.of(),
                1, -1, -1, -1, -1, false, false, false, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("bosId must be -1 (absent) or in [0, 1), was 1");
        assertThatThrownBy(() -> Tokenizers.create(new TokenizerSpec("bert", null, List.of("a"), null, null, List.of(),
                -1, -1, -1, -1, -1, false, false, false, null)))
                .isInstanceOf(UnsupportedTokenizerException.class)
                .hasMessageContaining("'bert'");
        assertThatThrownBy(() -> TokenizerSpec.fromMetadata(k -> null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("GGUF metadata has no tokenizer.ggml.model");
    }
}
