package io.tandem.engine.scheduler;

import io.tandem.engine.sampling.Sampler;
import io.tandem.engine.sampling.StopChecker;
import io.tandem.engine.tokenizer.StreamingDetokenizer;
import java.util.Arrays;

/**
 * The engine loop's state of one request. Owned by the loop thread only.
 *
 * <p>{@code tokens[0..numTokens)} is the prompt followed by the output so far; the KV of
 * {@code tokens[0..numComputed)} is in the cache. A step feeds {@code tokens[numComputed..)} (a prefill chunk,
 * or the one newest token when decoding); when the cache catches up with the tokens, the step's logits for the
 * last position yield the next token. Preemption frees the blocks and sets {@code numComputed} to 0, so the
 * sequence is later recomputed from all its tokens.
 */
final class Sequence {
    enum State { WAITING, AWAITING_KV, RUNNING, FINISHED }

    final GenerationRequest request;
    final GenerationListener listener;
    final long arrival;
    final long submitNanos;
    final Sampler sampler;
    final StreamingDetokenizer detokenizer;
    final StopChecker stopChecker;
    final int promptLen;
    final StringBuilder text = new StringBuilder();

    State state = State.WAITING;
    int[] tokens;
    int numTokens;
    int numComputed;
    int[] blockTable = new int[4];
    int numBlocks;
    int preemptions;
    long firstTokenNanos = -1;
    boolean abortRequested;
    boolean admittedOnce;
    java.util.concurrent.CompletableFuture<GenerationResult> future;

    Sequence(GenerationRequest request, GenerationListener listener, long arrival, long submitNanos, Sampler sampler,
             StreamingDetokenizer detokenizer, StopChecker stopChecker) {
        this.request = request;
        this.listener = listener;
        this.arrival = arrival;
        this.submitNanos = submitNanos;
        this.sampler = sampler;
        this.detokenizer = detokenizer;
        this.stopChecker = stopChecker;
        this.promptLen = request.prompt().length;
        this.tokens = Arrays.copyOf(request.prompt(), promptLen + Math.min(request.params().maxTokens(), 4096) + 1);
        this.numTokens = promptLen;
    }

    String id() {
        return request.requestId();
    }

    int outputCount() {
        return numTokens - promptLen;
    }

    int[] outputTokens() {
        return Arrays.copyOfRange(tokens, promptLen, numTokens);
    }

    void append(int token) {
        if (numTokens == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[numTokens++] = token;
    }

    /** Blocks needed to hold {@code positions} positions. */
    static int blocksFor(int positions, int blockSize) {
        return (positions + blockSize - 1) / blockSize;
    }

    void addBlocks(int[] ids) {
        if (numBlocks + ids.length > blockTable.length) {
            blockTable = Arrays.copyOf(blockTable, Math.max(blockTable.length * 2, numBlocks + ids.length));
        }
        System.arraycopy(ids, 0, blockTable, numBlocks, ids.length);
        numBlocks += ids.length;
    }
}
