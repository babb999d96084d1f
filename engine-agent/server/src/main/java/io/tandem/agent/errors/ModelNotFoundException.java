package io.tandem.agent.errors;

/** The request names a model this agent does not serve (404, with OpenAI's type and code for that case). */
public final class ModelNotFoundException extends NotFoundException {
    public ModelNotFoundException(String message, String param) {
        super(message, param);
    }

    public ModelNotFoundException(String message) {
        super(message, null);
    }

    @Override
    public String type() {
        return "invalid_request_error";
    }

    @Override
    public String code() {
        return "model_not_found";
    }
}
