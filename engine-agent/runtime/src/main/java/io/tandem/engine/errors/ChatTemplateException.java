package io.tandem.engine.errors;

/**
 * A chat template could not be rendered: either the template itself called {@code raise_exception(msg)} (the
 * usual way Hugging Face templates reject a conversation, e.g. roles that do not alternate), or the template
 * is not valid Jinja for our renderer. Either way the request that supplied the messages cannot be served
 * as given, so the HTTP layer maps this to a client error.
 */
public class ChatTemplateException extends EngineException {
    public ChatTemplateException(String message) {
        super(message);
    }

    public ChatTemplateException(String message, Throwable cause) {
        super(message, cause);
    }
}
