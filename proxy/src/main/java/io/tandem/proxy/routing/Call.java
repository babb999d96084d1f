package io.tandem.proxy.routing;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.tandem.proxy.errors.BadRequestException;

/**
 * One client request as the router sees it: the route, the parsed body (kept as a tree so that every field the
 * client sent reaches the node unchanged), and the cancel hooks that run if the client goes away. Thread-safe.
 */
final class Call {
    private static final int PROMPT_CHARS = 4096;

    final String route;
    final byte[] raw;
    final ObjectNode body;
    final String model;
    final boolean stream;
    final String prompt;
    final long startNanos;

    private final Object lock = new Object();
    // @GuardedBy("lock")
    private final List<Runnable> onCancel = new ArrayList<>();
    // @GuardedBy("lock")
    private boolean cancelled;

    private Call(String route, byte[] raw, ObjectNode body, String model, boolean stream, String prompt,
                 long startNanos) {
        this.route = route;
        this.raw = raw;
        this.body = body;
        this.model = model;
        this.stream = stream;
        this.prompt = prompt;
        this.startNanos = startNanos;
    }

    static Call parse(ObjectMapper json, String route, byte[] raw, long startNanos) {
        JsonNode tree;
        try {
            tree = json.readTree(raw);
        } catch (java.io.IOException e) {
            throw new BadRequestException("body: not JSON (" + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()) + ")");
        }
        if (!(tree instanceof ObjectNode body)) {
            throw new BadRequestException("body: " + (tree == null ? "empty" : tree.getNodeType()) + " (expected: a JSON object)");
        }
        JsonNode model = body.get("model");
        if (model == null || !model.isTextual() || model.asText().isBlank()) {
            throw new BadRequestException("model: " + model + " (expected: a model name from /v1/models)");
        }
        JsonNode stream = body.get("stream");
        if (stream != null && !stream.isNull() && !stream.isBoolean()) {
            throw new BadRequestException("stream: " + stream + " (expected: true or false)");
        }
        return new Call(route, raw, body, model.asText(), stream != null && stream.asBoolean(false),
                promptText(body), startNanos);
    }

    /** The prompt's text (messages' string contents, or the completion prompt), for prefix-aware routing. */
    static String promptText(ObjectNode body) {
        StringBuilder sb = new StringBuilder();
        JsonNode messages = body.get("messages");
        if (messages != null && messages.isTextual()) {
            sb.append(messages.asText());
        } else if (messages != null && messages.isArray()) {
            for (JsonNode m : messages) {
                JsonNode c = m.get("content");
                if (c != null && c.isTextual()) {
                    sb.append(m.path("role").asText("")).append(':').append(c.asText()).append('\n');
                }
                if (sb.length() >= PROMPT_CHARS) {
                    break;
                }
            }
        }
        JsonNode prompt = body.get("prompt");
        if (prompt != null && prompt.isTextual()) {
            sb.append(prompt.asText());
        } else if (prompt != null && prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isTextual()) {
            sb.append(prompt.get(0).asText());
        }
        return sb.length() > PROMPT_CHARS ? sb.substring(0, PROMPT_CHARS) : sb.toString();
    }

    /** Runs {@code r} if the client goes away (at once if it already has). */
    void onCancel(Runnable r) {
        synchronized (lock) {
            if (!cancelled) {
                onCancel.add(r);
                return;
            }
        }
        r.run();
    }

    boolean cancelled() {
        synchronized (lock) {
            return cancelled;
        }
    }

    void cancel() {
        List<Runnable> run;
        synchronized (lock) {
            if (cancelled) {
                return;
            }
            cancelled = true;
            run = List.copyOf(onCancel);
            onCancel.clear();
        }
        run.forEach(Runnable::run);
    }

    /** Forget the hooks: the answer is handed over (a stream's own cancel takes over from here). */
    void answered() {
        synchronized (lock) {
            onCancel.clear();
        }
    }
}
