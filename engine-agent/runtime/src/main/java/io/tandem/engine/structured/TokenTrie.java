package io.tandem.engine.structured;

import io.tandem.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The vocabulary's byte strings ({@link Tokenizer#tokenBytes}) as a trie, built once per tokenizer and shared
 * by every constraint on it. A mask walks it depth-first with the automaton state, so a prefix shared by many
 * tokens is fed once, and a byte the grammar refuses prunes every token below it.
 *
 * <p>Control tokens and tokens without bytes are left out: their text is not part of the output (or not what
 * the output would show), so they can never be allowed inside JSON; end-of-generation ids are listed apart.
 *
 * <p>Immutable and thread-safe.
 */
final class TokenTrie {
    private static final Map<Tokenizer, TokenTrie> CACHE = Collections.synchronizedMap(new WeakHashMap<>());

    final int vocabSize;
    final byte[][] tokenBytes;
    final int[] endOfGeneration;
    // Node n's children are edges [edgeStart[n], edgeStart[n + 1]); edge e goes to edgeNode[e] over edgeByte[e].
    final int[] edgeStart;
    final byte[] edgeByte;
    final int[] edgeNode;
    // Node n ends the tokens tokenIds[tokenStart[n] .. tokenStart[n + 1]).
    final int[] tokenStart;
    final int[] tokenIds;
    // For the string fast path: code points on the path to node n if every byte of it is plain string content
    // (no quote, backslash or control byte; well-formed UTF-8 so far), else -1; and the UTF-8 continuation
    // bytes still owed at n.
    final int[] plainLength;
    final byte[] plainPending;

    static TokenTrie of(Tokenizer tokenizer) {
        TokenTrie t = CACHE.get(tokenizer);
        if (t == null) {
            t = new TokenTrie(tokenizer);
            CACHE.put(tokenizer, t);
        }
        return t;
    }

    private TokenTrie(Tokenizer tok) {
        vocabSize = tok.vocabSize();
        tokenBytes = new byte[vocabSize][];
        List<Integer> eog = new ArrayList<>();
        Map<Long, Integer> children = new HashMap<>();
        List<int[]> ends = new ArrayList<>(); // (node, token)
        int nodes = 1;
        for (int id = 0; id < vocabSize; id++) {
            byte[] b = tok.tokenBytes(id);
            tokenBytes[id] = b == null ? new byte[0] : b;
            if (tok.isEndOfGeneration(id)) {
                eog.add(id);
                continue;
            }
            if (tok.isControl(id) || tokenBytes[id].length == 0) {
                continue;
            }
            int node = 0;
            for (byte x : tokenBytes[id]) {
                long key = ((long) node << 8) | (x & 0xFF);
                Integer c = children.get(key);
                if (c == null) {
                    c = nodes++;
                    children.put(key, c);
                }
                node = c;
            }
            ends.add(new int[] {node, id});
        }
        endOfGeneration = eog.stream().mapToInt(Integer::intValue).toArray();

        long[] edges = children.keySet().stream().mapToLong(Long::longValue).sorted().toArray();
        edgeStart = new int[nodes + 1];
        edgeByte = new byte[edges.length];
        edgeNode = new int[edges.length];
        for (int e = 0; e < edges.length; e++) {
            int parent = (int) (edges[e] >>> 8);
            edgeStart[parent + 1]++;
            edgeByte[e] = (byte) edges[e];
            edgeNode[e] = children.get(edges[e]);
        }
        for (int n = 0; n < nodes; n++) {
            edgeStart[n + 1] += edgeStart[n];
        }
        ends.sort((a, b) -> Integer.compare(a[0], b[0]));
        tokenStart = new int[nodes + 1];
        tokenIds = new int[ends.size()];
        for (int i = 0; i < ends.size(); i++) {
            tokenStart[ends.get(i)[0] + 1]++;
            tokenIds[i] = ends.get(i)[1];
        }
        for (int n = 0; n < nodes; n++) {
            tokenStart[n + 1] += tokenStart[n];
        }
        plainLength = new int[nodes];
        plainPending = new byte[nodes];
        // Children have larger ids than their parents (ids are handed out on insertion), so one pass in id
        // order sees every parent first.
        for (int n = 0; n < nodes; n++) {
            for (int e = edgeStart[n]; e < edgeStart[n + 1]; e++) {
                int c = edgeNode[e];
                plainLength[c] = -1;
                if (plainLength[n] < 0) {
                    continue;
                }
                int b = edgeByte[e] & 0xFF;
                int pending = plainPending[n];
                if (pending > 0) {
                    if ((b & 0xC0) == 0x80) {
                        plainLength[c] = plainLength[n];
                        plainPending[c] = (byte) (pending - 1);
                    }
                } else if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
                    plainLength[c] = plainLength[n] + 1;
                } else if (b >= 0xC2 && b <= 0xF4) {
                    plainLength[c] = plainLength[n] + 1;
                    plainPending[c] = (byte) (b <= 0xDF ? 1 : b <= 0xEF ? 2 : 3);
                }
            }
        }
    }

    int nodeCount() {
        return edgeStart.length - 1;
    }

    boolean isEndOfGeneration(int id) {
        return Arrays.binarySearch(endOfGeneration, id) >= 0;
    }
}
