package io.tandem.controller;

import java.util.Set;

/**
 * One routing question.
 *
 * @param model   the requested model
 * @param mode    hybrid or DistServe
 * @param prompt  prompt text for prefix affinity ("" when unknown)
 * @param exclude node urls not to pick (those that already failed this request, for a retry)
 */
public record PickRequest(String model, RoutingMode mode, String prompt, Set<String> exclude) {
    public PickRequest {
        if (model == null || model.isBlank()) {
            throw new IllegalArgumentException("model: '" + model + "' (expected: a model name)");
        }
        if (mode == null) {
            throw new IllegalArgumentException("mode: null (expected: HYBRID or DISTSERVE)");
        }
        prompt = prompt == null ? "" : prompt;
        exclude = exclude == null ? Set.of() : Set.copyOf(exclude);
    }

    public static PickRequest of(String model, RoutingMode mode, String prompt) {
        return new PickRequest(model, mode, prompt, Set.of());
    }

    public PickRequest excluding(Set<String> urls) {
        java.util.HashSet<String> all = new java.util.HashSet<>(exclude);
        all.addAll(urls);
        return new PickRequest(model, mode, prompt, all);
    }
}
