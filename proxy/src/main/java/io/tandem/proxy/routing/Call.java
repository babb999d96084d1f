package io.tandem.proxy.routing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.netty.channel.Channel;
import io.tandem.proxy.errors.BadRequestException;

/**
 * One client request as the router sees it: the route, the client's bytes (forwarded unchanged in hybrid mode), the
 * fields routing needs, the client connection whose event loop does the upstream I/O, and the cancel hooks that run
 * if the client goes away. Thread-safe.
 *
 * <p>Parsing reads {@code model}, {@code stream} and the prompt's text with a streaming parser and skips the rest
 * (still checking that the whole body is JSON): no tree is built. DistServe, which rewrites the body, asks for the
 * tree with {@link #tree()}.
 */
final class Call {
    private static final int PROMPT_CHARS = 4096;

    final String route;
    final byte[] raw;
    final Channel inbound;
    final String model;
    final boolean stream;
    final String prompt;
    final long startNanos;

    private final Object lock = new Object();
    // @GuardedBy("lock")
    private final List<Runnable> onCancel = new ArrayList<>();
    // @GuardedBy("lock")
    private boolean cancelled;

    private Call(String route, byte[] raw, Channel inbound, String model, boolean stream, String prompt,
                 long startNanos) {
        this.route = route;
        this.raw = raw;
        this.inbound = inbound;
        this.model = model;
        this.stream = stream;
        this.prompt = prompt;
        this.startNanos = startNanos;
    }

    static Call parse(JsonFactory json, String route, byte[] raw, Channel inbound, long startNanos) {
        String model = null;
        String modelSeen = "null";
        boolean stream = false;
        StringBuilder messages = new StringBuilder();
        StringBuilder prompt = new StringBuilder();
        try (JsonParser p = json.createParser(raw)) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_OBJECT) {
                throw new BadRequestException("body: " + (t == null ? "empty" : "starts with " + p.getText())
                        + " (expected: a JSON object)");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                switch (name) {
                    case "model" -> {
                        model = v == JsonToken.VALUE_STRING ? p.getText() : null;
                        modelSeen = v == JsonToken.VALUE_STRING ? '"' + p.getText() + '"' : valueText(p, v);
                    }
                    case "stream" -> {
                        if (v != JsonToken.VALUE_TRUE && v != JsonToken.VALUE_FALSE && v != JsonToken.VALUE_NULL) {
                            throw new BadRequestException("stream: " + valueText(p, v) + " (expected: true or false)");
                        }
                        stream = v == JsonToken.VALUE_TRUE;
                    }
                    case "messages" -> {
                        messages.setLength(0);
                        messages(p, v, messages);
                    }
                    case "prompt" -> {
                        prompt.setLength(0);
                        prompt(p, v, prompt);
                    }
                    default -> p.skipChildren();
                }
            }
        } catch (JsonProcessingException e) {
            throw new BadRequestException("body: not JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new UncheckedIOException(e); // reading a byte array
        }
        if (model == null || model.isBlank()) {
            throw new BadRequestException("model: " + modelSeen + " (expected: a model name from /v1/models)");
        }
        StringBuilder text = messages.append(prompt);
        return new Call(route, raw, inbound, model, stream,
                text.length() > PROMPT_CHARS ? text.substring(0, PROMPT_CHARS) : text.toString(), startNanos);
    }

    /** The body as a tree, for DistServe's rewrites (parsed again: the hybrid path never needs it). */
    ObjectNode tree(ObjectMapper json) {
        try {
            return (ObjectNode) json.readTree(raw);
        } catch (IOException e) {
            throw new IllegalStateException("body parsed before, now not JSON", e);
        }
    }

    /**
     * The messages' text for prefix-aware routing: a string as is, or of an array the string contents as
     * {@code role:content} lines, up to {@value #PROMPT_CHARS} characters.
     */
    private static void messages(JsonParser p, JsonToken v, StringBuilder sb) throws IOException {
        if (!isArray(p, v, sb)) {
            return;
        }
        for (JsonToken m = p.nextToken(); m != JsonToken.END_ARRAY; m = p.nextToken()) {
            if (m != JsonToken.START_OBJECT || sb.length() >= PROMPT_CHARS) {
                p.skipChildren();
                continue;
            }
            String role = "";
            String content = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken f = p.nextToken();
                if (field.equals("content")) {
                    content = f == JsonToken.VALUE_STRING ? p.getText() : null;
                } else if (field.equals("role") && f.isScalarValue()) {
                    role = p.getText();
                }
                p.skipChildren();
            }
            if (content != null) {
                sb.append(role).append(':').append(content).append('\n');
            }
        }
    }

    /** The completion prompt's text: a string, or the first of an array of strings. */
    private static void prompt(JsonParser p, JsonToken v, StringBuilder sb) throws IOException {
        if (!isArray(p, v, sb)) {
            return;
        }
        JsonToken first = p.nextToken();
        if (first == JsonToken.VALUE_STRING) {
            sb.append(p.getText());
        }
        if (first != JsonToken.END_ARRAY) {
            p.skipChildren();
            while (p.nextToken() != JsonToken.END_ARRAY) {
                p.skipChildren();
            }
        }
    }

    /** True at the start of an array, whose elements the caller reads; a string is appended, anything else skipped. */
    private static boolean isArray(JsonParser p, JsonToken v, StringBuilder sb) throws IOException {
        if (v == JsonToken.START_ARRAY) {
            return true;
        }
        if (v == JsonToken.VALUE_STRING) {
            sb.append(p.getText());
        } else {
            p.skipChildren();
        }
        return false;
    }

    private static String valueText(JsonParser p, JsonToken v) throws IOException {
        if (v == JsonToken.START_OBJECT || v == JsonToken.START_ARRAY) {
            p.skipChildren();
            return v == JsonToken.START_OBJECT ? "an object" : "an array";
        }
        return p.getText();
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
