package io.tandem.engine.structured;

import io.tandem.engine.structured.JsonGrammar.Node;
import io.tandem.engine.structured.JsonGrammar.Stack;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A {@link TokenConstraint} driven by a {@link JsonGrammar}: the mask allows exactly the tokens whose bytes the
 * automaton accepts from its current state, found by walking the shared {@link TokenTrie}; end-of-generation
 * tokens only when the output may end here.
 *
 * <p>One per request; used by the engine loop only (not thread-safe).
 */
final class JsonTokenConstraint implements TokenConstraint {
    private final TokenTrie trie;
    private Stack[] state;
    private final boolean[] allowed;
    /** Off only in tests that check the fast path against the plain walk. */
    boolean stringFastPath = true;

    JsonTokenConstraint(TokenTrie trie, Node root) {
        this.trie = trie;
        this.state = JsonGrammar.initial(root);
        this.allowed = new boolean[trie.vocabSize];
    }

    @Override
    public void apply(float[] logits, int offset, int vocabSize) {
        Arrays.fill(allowed, false);
        if (stringFastPath && state.length == 1 && state[0].top() instanceof JsonGrammar.StringFrame sf
                && sf.state == JsonGrammar.StringFrame.BODY && sf.pending == 0 && sf.captured == null) {
            walkString(0, sf);
        } else if (!JsonGrammar.complete(state)) {
            walk(0, state);
        }
        boolean mayEnd = JsonGrammar.accepting(state);
        for (int t : trie.endOfGeneration) {
            allowed[t] = mayEnd;
        }
        int n = Math.min(vocabSize, allowed.length);
        for (int t = 0; t < n; t++) {
            if (!allowed[t]) {
                logits[offset + t] = Float.NEGATIVE_INFINITY;
            }
        }
        // Ids past the tokenizer's vocabulary (padded embedding rows) stand for no text.
        for (int t = n; t < vocabSize; t++) {
            logits[offset + t] = Float.NEGATIVE_INFINITY;
        }
    }

    private void walk(int node, Stack[] st) {
        for (int e = trie.edgeStart[node]; e < trie.edgeStart[node + 1]; e++) {
            Stack[] next = JsonGrammar.feed(st, trie.edgeByte[e] & 0xFF);
            if (next == null) {
                continue;
            }
            int child = trie.edgeNode[e];
            for (int i = trie.tokenStart[child]; i < trie.tokenStart[child + 1]; i++) {
                allowed[trie.tokenIds[i]] = true;
            }
            if (trie.edgeStart[child] < trie.edgeStart[child + 1]) {
                walk(child, next);
            }
        }
    }

    /**
     * The walk inside a string body, the common and widest case (nearly every token may continue a string):
     * while a path is plain string content its resulting state is known from the precomputed length, so only
     * the maximum length is checked; the automaton runs from the first quote, backslash or other byte on.
     */
    private void walkString(int node, JsonGrammar.StringFrame sf) {
        for (int e = trie.edgeStart[node]; e < trie.edgeStart[node + 1]; e++) {
            int child = trie.edgeNode[e];
            Stack[] next = null;
            if (trie.plainLength[child] >= 0) {
                if (sf.length + trie.plainLength[child] > sf.node.maxLength) {
                    continue;
                }
            } else {
                JsonGrammar.StringFrame here = new JsonGrammar.StringFrame(sf.node, JsonGrammar.StringFrame.BODY,
                        sf.length + trie.plainLength[node], trie.plainPending[node], null);
                next = JsonGrammar.feed(new Stack[] {new Stack(here, state[0].below(), state[0].depth())},
                        trie.edgeByte[e] & 0xFF);
                if (next == null) {
                    continue;
                }
            }
            for (int i = trie.tokenStart[child]; i < trie.tokenStart[child + 1]; i++) {
                allowed[trie.tokenIds[i]] = true;
            }
            if (trie.edgeStart[child] < trie.edgeStart[child + 1]) {
                if (next == null) {
                    walkString(child, sf);
                } else {
                    walk(child, next);
                }
            }
        }
    }

    /** Number of tokens the mask allows now (for tests and diagnostics). */
    int allowedCount(int vocabSize) {
        float[] probe = new float[vocabSize];
        apply(probe, 0, vocabSize);
        int n = 0;
        for (float f : probe) {
            if (f == 0f) {
                n++;
            }
        }
        return n;
    }

    @Override
    public void accept(int token) {
        if (token < 0 || token >= trie.vocabSize) {
            throw new IllegalArgumentException("token: " + token + " (expected: 0.." + (trie.vocabSize - 1) + ")");
        }
        if (trie.isEndOfGeneration(token)) {
            if (!JsonGrammar.accepting(state)) {
                throw new IllegalArgumentException("end-of-generation token " + token
                        + " before the JSON value is complete");
            }
            return;
        }
        Stack[] s = state;
        byte[] bytes = trie.tokenBytes[token];
        for (byte b : bytes) {
            s = s == null ? null : JsonGrammar.feed(s, b & 0xFF);
        }
        if (s == null || bytes.length == 0) {
            throw new IllegalArgumentException("token " + token + " ('"
                    + new String(bytes, StandardCharsets.UTF_8) + "') does not continue valid JSON here");
        }
        state = s;
    }

    @Override
    public boolean isComplete() {
        return JsonGrammar.complete(state);
    }
}
