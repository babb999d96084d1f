package io.tandem.engine.sampling;

import java.util.Arrays;

/**
 * Reusable partial selection of the largest (logit, token) pairs, without boxing or per-call allocation.
 *
 * <p>A pair is packed into one {@code long} key whose natural order is "higher logit first, then lower token id
 * first", so a primitive min-heap and {@link Arrays#sort(long[], int, int)} give the deterministic order that
 * greedy ties (lowest id wins) and top-k/top-p boundaries need. Selecting k of n costs O(n) comparisons against
 * the heap minimum plus O(m log k) for the m keys that beat it, which for logits (few large values) is close to
 * a single scan. Callers never pass NaN.
 *
 * <p>Not thread-safe; each {@link Sampler} owns its own.
 */
final class TopSelector {
    private long[] keys = new long[64];
    private int size;
    private int limit;
    private boolean keepAll;
    /** Logit of the heap's minimum once the heap is full: anything strictly below it can be rejected cheaply. */
    private float admit;

    /** Orders floats like their values as signed ints: negatives have their magnitude bits flipped. */
    static long key(float logit, int token) {
        int bits = Float.floatToRawIntBits(logit + 0.0f); // + 0.0f turns -0.0 into +0.0, so they tie
        int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
        return ((long) sortable << 32) | (~token & 0xffffffffL);
    }

    static float logit(long key) {
        int sortable = (int) (key >> 32);
        return Float.intBitsToFloat(sortable ^ ((sortable >> 31) & 0x7fffffff));
    }

    static int token(long key) {
        return ~(int) key;
    }

    /**
     * Starts a selection that keeps the best {@code limit} of at most {@code candidates} offered keys. When the
     * limit covers every candidate the heap is pointless: keys are just appended and sorted at the end.
     */
    void reset(int limit, int candidates) {
        int capacity = Math.min(limit, candidates);
        if (keys.length < capacity) {
            keys = new long[Math.max(capacity, keys.length * 2)];
        }
        this.limit = capacity;
        keepAll = limit >= candidates;
        size = 0;
        admit = Float.NEGATIVE_INFINITY;
    }

    /**
     * Offers a candidate by value. Most logits lose against a full heap, and a float comparison rejects them
     * before a key is even built; this is what keeps small-k selection close to a plain scan.
     */
    void offer(float logit, int token) {
        if (logit >= admit) {
            offer(key(logit, token));
        }
    }

    /** Offers one candidate; a min-heap of the best {@code limit} keys seen so far. */
    void offer(long key) {
        if (keepAll) {
            keys[size++] = key;
        } else if (size < limit) {
            int i = size++;
            while (i > 0) { // sift up
                int parent = (i - 1) >>> 1;
                if (keys[parent] <= key) {
                    break;
                }
                keys[i] = keys[parent];
                i = parent;
            }
            keys[i] = key;
            if (size == limit) {
                admit = logit(keys[0]);
            }
        } else if (key > keys[0]) {
            siftDownFromRoot(key);
            admit = logit(keys[0]);
        }
    }

    private void siftDownFromRoot(long key) {
        int i = 0;
        int half = size >>> 1;
        while (i < half) {
            int child = 2 * i + 1;
            int right = child + 1;
            if (right < size && keys[right] < keys[child]) {
                child = right;
            }
            if (key <= keys[child]) {
                break;
            }
            keys[i] = keys[child];
            i = child;
        }
        keys[i] = key;
    }

    /**
     * Ends the selection: sorts the kept keys best first and returns how many there are; read them with
     * {@link #get(int)}.
     */
    int finishDescending() {
        Arrays.sort(keys, 0, size);
        for (int i = 0, j = size - 1; i < j; i++, j--) {
            long t = keys[i];
            keys[i] = keys[j];
            keys[j] = t;
        }
        return size;
    }

    long get(int i) {
        return keys[i];
    }
}
