package io.tandem.engine.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tandem.engine.errors.ChatTemplateException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Real Hugging Face chat templates (resources {@code templates/*.jinja}) rendered against exact expected prompts.
 *
 * <p>Each case in {@code templates/cases/NAME.json} names a template, messages, {@code add_generation_prompt} and
 * extra context; {@code NAME.expected} is what Python Jinja2 3.1.6 renders in the environment transformers'
 * {@code apply_chat_template} builds (trim_blocks, lstrip_blocks, loopcontrols, its {@code tojson},
 * {@code raise_exception}, {@code strftime_now}). So these compare us with the reference implementation, not with
 * our own output.
 */
class ChatTemplateTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static String resource(String path) throws IOException {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/templates/" + path)) {
            if (in == null) throw new IOException("missing test resource templates/" + path);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3-instruct", "llama3.2-instruct", "llama3.2-instruct-tools", "qwen2.5-instruct",
            "qwen2.5-instruct-tools", "mistral-instruct", "llama2-chat", "smollm2", "qwen3-no-thinking",
            "qwen3-thinking-history", "qwen3-tools"})
    void rendersLikeHuggingFace(String name) throws IOException {
        Map<String, Object> c = JSON.readValue(resource("cases/" + name + ".json"), new TypeReference<>() {});
        ChatTemplate template = ChatTemplate.forModel(resource((String) c.get("template")));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> messages = (List<Map<String, Object>>) c.get("messages");
        @SuppressWarnings("unchecked")
        Map<String, Object> context = (Map<String, Object>) c.get("context");
        String out = template.renderMessages(messages, (Boolean) c.get("add_generation_prompt"), context);
        assertThat(out).isEqualTo(resource("cases/" + name + ".expected"));
    }

    @Test
    void llama3InstructExactPrompt() throws IOException {
        ChatTemplate t = ChatTemplate.forModel(resource("llama3-instruct.jinja"));
        String out = t.render(List.of(ChatMessage.system("Be brief."), ChatMessage.user("  Hi!  ")), true,
                Map.of("bos_token", "<|begin_of_text|>"));
        assertThat(out).isEqualTo("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n");
    }

    @Test
    void qwen3ThinkingSwitch() throws IOException {
        ChatTemplate t = ChatTemplate.forModel(resource("qwen3.jinja"));
        List<ChatMessage> msgs = List.of(ChatMessage.user("Hi"));
        assertThat(t.render(msgs, true, Map.of("enable_thinking", false)))
                .isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
        assertThat(t.render(msgs, true, Map.of("enable_thinking", true)))
                .isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        assertThat(t.render(msgs, true, null)).isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        // reasoningContent of the turn being continued is rendered inside <think>.
        assertThat(t.render(List.of(ChatMessage.user("Hi"), new ChatMessage("assistant", "Hello!", "greet back")),
                false, null)).isEqualTo("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\ngreet back\n"
                + "</think>\n\nHello!<|im_end|>\n");
    }

    @Test
    void raiseExceptionSurfacesAsChatTemplateException() throws IOException {
        ChatTemplate mistral = ChatTemplate.forModel(resource("mistral-instruct.jinja"));
        assertThatThrownBy(() -> mistral.render(List.of(ChatMessage.system("sys"), ChatMessage.user("Hi")), true,
                Map.of("bos_token", "<s>", "eos_token", "</s>")))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessage("Conversation roles must alternate user/assistant/user/assistant/...");
    }

    @Test
    void brokenTemplateIsAChatTemplateException() {
        assertThatThrownBy(() -> ChatTemplate.forModel("{% for m in messages %}{{ m.role }").render(
                List.of(ChatMessage.user("x")), true, null))
                .isInstanceOf(ChatTemplateException.class);
        assertThatThrownBy(() -> ChatTemplate.forModel("{{ no_such_function(1) }}").render(
                List.of(ChatMessage.user("x")), true, null))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("no_such_function");
    }

    @Test
    void fallbackIsChatMl() {
        assertThat(ChatTemplate.forModel(null).isFallback()).isTrue();
        assertThat(ChatTemplate.forModel("  ")).isSameAs(ChatTemplate.fallback());
        String out = ChatTemplate.forModel(null).render(
                List.of(ChatMessage.system("S"), ChatMessage.user("U"), ChatMessage.assistant("A"), ChatMessage.user("V")),
                true, Map.of());
        assertThat(out).isEqualTo("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
                + "<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n");
        assertThat(ChatTemplate.fallback().render(List.of(ChatMessage.user("U")), false, null))
                .isEqualTo("<|im_start|>user\nU<|im_end|>\n");
    }

    @Test
    void messageContentIsNeverEvaluated() {
        String out = ChatTemplate.fallback().render(List.of(ChatMessage.user("{{ 7 * 7 }} {% if true %}x{% endif %}")),
                false, null);
        assertThat(out).isEqualTo("<|im_start|>user\n{{ 7 * 7 }} {% if true %}x{% endif %}<|im_end|>\n");
    }

    @Test
    void pythonStringMethodsAndFilters() {
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("s", "  Hello World  ");
        ctx.put("d", Map.of("k", "v"));
        assertThat(render("{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}", ctx))
                .isEqualTo("Hello World|Hello World  |  Hello World|hi");
        assertThat(render("{{ s.strip().startswith('Hello') }} {{ s.endswith('  ') }} {{ 'a.b'.startswith(('x', 'a')) }}",
                ctx)).isEqualTo("true true true");
        assertThat(render("{{ 'a.b.c'.split('.')[-1] }} {{ 'a,,b,'.split(',') | length }} {{ ' a  b '.split() | length }}",
                ctx)).isEqualTo("c 4 2");
        assertThat(render("{{ 'mIxEd'.upper() }} {{ 'mIxEd'.lower() }} {{ 'hello wORLD'.title() }} {{ 'aXa'.replace('a', 'b') }}",
                ctx)).isEqualTo("MIXED mixed Hello World bXb");
        assertThat(render("{{ d.get('k') }} {{ d.get('missing', 'dflt') }} {{ d | tojson }} {{ [1, 'é', true, none] | tojson }}",
                ctx)).isEqualTo("v dflt {\"k\": \"v\"} [1, \"é\", true, null]");
        assertThat(render("{% set ns = namespace(n=0) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}"
                + "{% if loop.first %}F{% endif %}{{ loop.index0 }}{% if loop.last %}L{% endif %}{% endfor %}={{ ns.n }}", ctx))
                .isEqualTo("F012L=6");
        assertThat(render("{% for x in [1, 2, 3][::-1] %}{{ x }}{% endfor %}", ctx)).isEqualTo("321");
        assertThat(render("{{ strftime_now('%Y-%m-%d') }}", ctx)).isIn(
                LocalDate.now().toString(), LocalDate.now().minusDays(1).toString(), LocalDate.now().plusDays(1).toString());
    }

    @Test
    void jinja2PrecedenceForNotKeywordArgumentsAndTests() {
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("l", List.of(1, 2));
        ctx.put("ds", "26 Jul 2024");
        // Jinja2: prefix `not` applies to the whole comparison / test / membership.
        assertThat(render("{{ not l|length == 1 }} {{ not 'x' in 'abc' }} {{ not ds is defined }} {{ not nope is defined }}",
                ctx)).isEqualTo("true true false true");
        assertThat(render("{{ 1 if not l|length == 2 else 0 }} {% if not l or not ds %}a{% else %}b{% endif %}", ctx))
                .isEqualTo("0 b");
        // Keyword argument values take the whole expression.
        assertThat(render("{% set ns = namespace(last=l|length - 1, flag=not false) %}{{ ns.last }} {{ ns.flag }}", ctx))
                .isEqualTo("1 true");
        assertThat(render("{{ 'abc' is iterable }} {{ l is iterable }} {{ 3 is iterable }}", ctx))
                .isEqualTo("true true false");
        // Strings are not rewritten.
        assertThat(render("{{ 'not x is defined, f(a=1 - 1) [::-1]' }}", ctx))
                .isEqualTo("not x is defined, f(a=1 - 1) [::-1]");
    }

    @Test
    void whitespaceControlAsHuggingFaceConfiguresJinja() {
        // trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before one;
        // '-' strips all whitespace on its side; expressions are left alone.
        String t = "{% for m in messages %}\n    {{ m.role }}\n{% endfor %}\n{%- if true -%}\n  [x]  \n{%- endif %}\n";
        assertThat(ChatTemplate.forModel(t).render(List.of(ChatMessage.user("a"), ChatMessage.assistant("b")), false, null))
                .isEqualTo("    user\n    assistant\n[x]");
    }

    private static String render(String template, Map<String, Object> ctx) {
        return ChatTemplate.forModel(template).renderMessages(List.of(), false, ctx);
    }
}
