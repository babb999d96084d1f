package io.tandem.engine.template;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.tandem.engine.errors.ChatTemplateException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import jinjava.javax.el.CompositeELResolver;

/**
 * Renders a model's {@code tokenizer.chat_template} the way Hugging Face's {@code apply_chat_template} does, so
 * the prompt string (and hence the tokens) match what the model was trained on.
 *
 * <p>Design: Jinjava is Jinja-like but not Python. We configure it as HF configures Jinja2 ({@code trim_blocks},
 * {@code lstrip_blocks}, Python operator precedence) and close the gaps real templates hit:
 * <ul>
 *   <li>Python {@code str} methods ({@code startswith}, {@code split}, {@code strip(chars)}, {@code title}, ...)
 *       through an EL resolver that runs before Jinjava's Java-method resolver ({@link PyMethods});</li>
 *   <li>{@code tojson} replaced with Python {@code json.dumps} formatting ({@link PyJson}) as HF's is;</li>
 *   <li>globals {@code raise_exception(msg)} (surfaces as {@link ChatTemplateException}) and
 *       {@code strftime_now(fmt)};</li>
 *   <li>{@code is iterable} true for strings, as in Python (Llama 3.x tool results depend on it);</li>
 *   <li>a source rewrite ({@link TemplatePreprocessor}) where Jinjava parses Jinja2 differently: prefix
 *       {@code not} and keyword-argument precedence, {@code seq[::-1]}, HF's {@code {% generation %}} markers.</li>
 * </ul>
 * Message content is data: Jinjava's nested interpretation is disabled so text such as {@code {{ x }}} inside a
 * message is never evaluated.
 *
 * <p>Immutable and thread-safe: the Jinjava engine is configured once and each render uses its own interpreter.
 */
public final class ChatTemplate {

    /** ChatML, the de-facto default (llama.cpp falls back to it too). */
    static final String CHATML = "{% for message in messages %}"
            + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static final Jinjava JINJAVA = newEngine();
    private static final ChatTemplate FALLBACK = new ChatTemplate(CHATML, true);


    private final String source;
    private final String prepared;
    private final boolean fallback;

    private ChatTemplate(String source, boolean fallback) {
        this.source = source;
        this.prepared = TemplatePreprocessor.prepare(source);
        this.fallback = fallback;
    }

    /** The ChatML template used when a model ships none. */
    public static ChatTemplate fallback() {
        return FALLBACK;
    }

    /** The model's template, or {@link #fallback()} when it has none ({@code null} or blank). */
    public static ChatTemplate forModel(String templateOrNull) {
        if (templateOrNull == null || templateOrNull.isBlank()) {
            return FALLBACK;
        }
        return new ChatTemplate(templateOrNull, false);
    }

    /** The template as the model ships it. */
    public String source() {
        return source;
    }

    /** Whether this is the ChatML fallback rather than the model's own template. */
    public boolean isFallback() {
        return fallback;
    }

    /**
     * Renders the prompt.
     *
     * @param addGenerationPrompt end with the header that makes the model answer as the assistant
     * @param extraContext        further template variables: {@code bos_token}, {@code eos_token}, {@code tools},
     *                            {@code enable_thinking}, {@code date_string}, ...; may be null
     * @throws ChatTemplateException if the template raises ({@code raise_exception}) or cannot be rendered
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extraContext) {
        Objects.requireNonNull(messages, "messages must not be null");
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = Objects.requireNonNull(messages.get(i), "messages[" + i + "] must not be null");
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            if (m.reasoningContent() != null) {
                map.put("reasoning_content", m.reasoningContent());
            }
            maps.add(map);
        }
        return renderMessages(maps, addGenerationPrompt, extraContext);
    }

    /**
     * Renders messages given as OpenAI-style maps, for turns {@link ChatMessage} cannot express (assistant
     * {@code tool_calls}, {@code tool} results with extra fields). Values must be strings, numbers, booleans,
     * lists and maps.
     *
     * @throws ChatTemplateException if the template raises ({@code raise_exception}) or cannot be rendered
     */
    public String renderMessages(List<? extends Map<String, ?>> messages, boolean addGenerationPrompt,
                                 Map<String, Object> extraContext) {
        Objects.requireNonNull(messages, "messages must not be null");
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("messages", new ArrayList<>(messages));
        context.put("add_generation_prompt", addGenerationPrompt);
        if (extraContext != null) {
            extraContext.forEach((k, v) -> {
                // HF passes template kwargs after its own, so they may override anything.
                if (v != null) context.put(k, v);
            });
        }
        RenderResult result;
        try {
            result = JINJAVA.renderForResult(prepared, context);
        } catch (RuntimeException e) {
            ChatTemplateException raised = findRaised(e);
            if (raised != null) throw raised;
            throw new ChatTemplateException("chat template failed: " + e.getMessage(), e);
        }
        List<String> fatal = new ArrayList<>();
        for (TemplateError error : result.getErrors()) {
            ChatTemplateException raised = findRaised(error.getException());
            if (raised != null) {
                throw raised;
            }
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                fatal.add("line " + error.getLineno() + ": " + error.getMessage());
            }
        }
        if (!fatal.isEmpty()) {
            throw new ChatTemplateException("chat template cannot be rendered: " + String.join("; ", fatal));
        }
        return result.getOutput();
    }

    private static ChatTemplateException findRaised(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ChatTemplateException cte) {
                return cte;
            }
            if (c.getCause() == c) break;
        }
        return null;
    }

    private static Jinjava newEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(false) // applied by TemplatePreprocessor, with Jinja2's exact rule
                .withElResolver(resolver)
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withKeepNullableLoopValues(true)
                        .withUsePyishObjectMapper(true)
                        .build())
                .build();
        Jinjava jinjava = new Jinjava(config);
        jinjava.registerFunction(new ELFunctionDefinition("", "raise_exception", TemplateFunctions.class,
                "raiseException", Object.class));
        jinjava.registerFunction(new ELFunctionDefinition("", "strftime_now", TemplateFunctions.class,
                "strftimeNow", String.class));
        jinjava.registerFilter(new ToJson());
        jinjava.registerExpTest(new Iterable());
        return jinjava;
    }

    /** HF's {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
    private static final class ToJson implements Filter {
        @Override
        public String getName() {
            return "tojson";
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return filter(var, interpreter, (Object[]) args, Map.of());
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            Object ensureAscii = kwargs.getOrDefault("ensure_ascii", args.length > 0 ? args[0] : false);
            Object indent = kwargs.getOrDefault("indent", args.length > 1 ? args[1] : null);
            Object separators = kwargs.getOrDefault("separators", args.length > 2 ? args[2] : null);
            Object sortKeys = kwargs.getOrDefault("sort_keys", args.length > 3 ? args[3] : false);
            String itemSep = null;
            String keySep = null;
            if (separators instanceof List<?> seps && seps.size() == 2) {
                itemSep = String.valueOf(seps.get(0));
                keySep = String.valueOf(seps.get(1));
            }
            Integer indentValue = indent == null ? null
                    : indent instanceof Number n ? Integer.valueOf(n.intValue()) : Integer.valueOf(indent.toString());
            return PyJson.dumps(var, indentValue, truthy(ensureAscii), truthy(sortKeys), itemSep, keySep);
        }

        private static boolean truthy(Object o) {
            return o instanceof Boolean b ? b : o != null && Boolean.parseBoolean(o.toString());
        }
    }

    /** Python's {@code iterable} test: strings are iterable too, unlike in Jinjava's built-in. */
    private static final class Iterable implements ExpTest {
        @Override
        public String getName() {
            return "iterable";
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return var instanceof CharSequence || var instanceof java.lang.Iterable<?> || var instanceof Map<?, ?>
                    || (var != null && var.getClass().isArray());
        }
    }
}
