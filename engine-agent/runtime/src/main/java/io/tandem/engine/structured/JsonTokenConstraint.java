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

    JsonTokenConstraint(TokenTrie trie, Node root) {
        this.trie = trie;
        this.state = JsonGrammar.initial(root);
        this.allowed = new boolean[trie.vocabSize];
    }

    @Override
    public void apply(float[] logits, int offset, int vocabSize) {
        Arrays.fill(allowed, false);
        if (!JsonGrammar.complete(state)) {
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
