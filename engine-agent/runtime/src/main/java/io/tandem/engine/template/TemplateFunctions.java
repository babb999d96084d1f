package io.tandem.engine.template;

import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import io.tandem.engine.errors.ChatTemplateException;
import java.time.ZonedDateTime;

/** Globals Hugging Face defines for chat templates, registered with Jinjava by {@link ChatTemplate}. */
final class TemplateFunctions {
    private TemplateFunctions() {
    }

    /** {@code raise_exception(msg)}: how HF templates reject a conversation. */
    public static Object raiseException(Object message) {
        throw new ChatTemplateException(String.valueOf(message));
    }

    /** {@code strftime_now(fmt)}: the current local time in Python strftime format (Llama 3.x date line). */
    public static String strftimeNow(String format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), format);
    }

}
