package io.tandem.controller.routing;

/**
 * What a strategy may look at besides the candidates: the model and the prompt text (for prefix affinity; may be
 * empty when the caller does not have it).
 */
public record RoutingContext(String model, String prompt) {
    public RoutingContext {
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException("model: '" + model + "' (expected: a model name)");
        }
        prompt = prompt == null ? "" : prompt;
    }
}
