package io.tandem.engine.model;

/**
 * The tokens of one engine step: chunks of several sequences laid end to end (a prefill chunk and single decode
 * tokens alike), each token with its sequence, its position, and whether its logits are wanted.
 *
 * <p>Reused from step to step by the engine loop; not thread-safe.
 */
public final class ForwardBatch {
    final int maxTokens;
    final int maxSeqs;
    int numTokens;
    int numSeqs;
    /** [numTokens] token ids. */
    final int[] tokens;
    /** [numTokens] absolute positions. */
    final int[] positions;
    /** [numTokens] index into the sequence tables. */
    final int[] seqOf;
    /** [numSeqs] block table of each sequence (ids of its KV blocks, in position order). */
    final int[][] blockTables;
    /** Token indices whose logits are computed, in order; logits row i belongs to logitTokens[i]. */
    final int[] logitTokens;
    int numLogits;

    public ForwardBatch(int maxTokens, int maxSeqs) {
        if (maxTokens <= 0 || maxSeqs <= 0) {
            throw new IllegalArgumentException("maxTokens " + maxTokens + ", maxSeqs " + maxSeqs + " (expected: > 0)");
        }
        this.maxTokens = maxTokens;
        this.maxSeqs = maxSeqs;
        this.tokens = new int[maxTokens];
        this.positions = new int[maxTokens];
        this.seqOf = new int[maxTokens];
        this.blockTables = new int[maxSeqs][];
        this.logitTokens = new int[maxSeqs];
    }

    public void clear() {
        numTokens = 0;
        numSeqs = 0;
        numLogits = 0;
    }

    /**
     * Adds tokens {@code ids[from..to)} of a sequence occupying positions {@code startPos..}; when
     * {@code wantLogits}, the last of them produces a logits row.
     *
     * @return the logits row index, or -1
     */
    public int addSequence(int[] blockTable, int[] ids, int from, int to, int startPos, boolean wantLogits) {
        int n = to - from;
        if (n <= 0 || numTokens + n > maxTokens || numSeqs >= maxSeqs) {
            throw new IllegalArgumentException("batch full or empty chunk: " + n + " tokens onto " + numTokens
                    + "/" + maxTokens + ", seqs " + numSeqs + "/" + maxSeqs);
        }
        int s = numSeqs++;
        blockTables[s] = blockTable;
        for (int i = 0; i < n; i++) {
            tokens[numTokens] = ids[from + i];
            positions[numTokens] = startPos + i;
            seqOf[numTokens] = s;
            numTokens++;
        }
        if (!wantLogits) {
            return -1;
        }
        logitTokens[numLogits] = numTokens - 1;
        return numLogits++;
    }

    public int numTokens() {
        return numTokens;
    }

    public int numSeqs() {
        return numSeqs;
    }

    public int numLogits() {
        return numLogits;
    }

    public int maxTokens() {
        return maxTokens;
    }

    public int maxSeqs() {
        return maxSeqs;
    }
}
