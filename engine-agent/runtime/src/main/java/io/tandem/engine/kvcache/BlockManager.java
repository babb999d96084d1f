package io.tandem.engine.kvcache;

import io.tandem.engine.errors.OutOfKvBlocksException;

/**
 * Hands out KV-cache block ids with reference counts.
 *
 * <p>A block is free when its count is zero. Sequences take blocks with {@link #allocate(int)} (count 1); a
 * second holder, such as a prefill session kept for migration or a shared prefix, calls {@link #retain(int)};
 * every holder calls {@link #release(int)} once. Free ids sit on a LIFO stack so that recently used, still cached
 * blocks are reused first.
 *
 * <p>Thread-safe: the engine loop allocates and frees while transfer threads may read usage figures and release
 * migration leases, so every method takes the manager's lock. Operations are O(blocks touched).
 */
public final class BlockManager {
    private final Object lock = new Object();
    private final int numBlocks;
    // @GuardedBy("lock")
    private final int[] refCounts;
    // @GuardedBy("lock")
    private final int[] freeStack;
    // @GuardedBy("lock")
    private int freeTop;

    public BlockManager(int numBlocks) {
        if (numBlocks <= 0) {
            throw new IllegalArgumentException("numBlocks: " + numBlocks + " (expected: > 0)");
        }
        this.numBlocks = numBlocks;
        this.refCounts = new int[numBlocks];
        this.freeStack = new int[numBlocks];
        // Lowest ids on top, so a fresh cache hands out 0, 1, 2, ... which keeps early runs contiguous.
        for (int i = 0; i < numBlocks; i++) {
            freeStack[i] = numBlocks - 1 - i;
        }
        this.freeTop = numBlocks;
    }

    public int numBlocks() {
        return numBlocks;
    }

    /** Blocks with a count of zero. */
    public int freeBlocks() {
        synchronized (lock) {
            return freeTop;
        }
    }

    public int usedBlocks() {
        synchronized (lock) {
            return numBlocks - freeTop;
        }
    }

    /** Fraction of blocks in use, 0..1. */
    public double usage() {
        synchronized (lock) {
            return (numBlocks - freeTop) / (double) numBlocks;
        }
    }

    /** Whether {@code n} blocks could be allocated now. */
    public boolean canAllocate(int n) {
        synchronized (lock) {
            return n <= freeTop;
        }
    }

    /**
     * Takes {@code n} free blocks, each with a count of one.
     *
     * @throws OutOfKvBlocksException when fewer than {@code n} are free; nothing is taken then
     */
    public int[] allocate(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("n: " + n + " (expected: >= 0)");
        }
        synchronized (lock) {
            if (n > freeTop) {
                throw new OutOfKvBlocksException("need " + n + " KV blocks, " + freeTop + " of " + numBlocks + " free");
            }
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                int id = freeStack[--freeTop];
                refCounts[id] = 1;
                ids[i] = id;
            }
            return ids;
        }
    }

    /** Adds a holder to an allocated block. */
    public void retain(int id) {
        synchronized (lock) {
            checkHeld(id);
            refCounts[id]++;
        }
    }

    /** Drops one holder; the block is free again when none is left. */
    public void release(int id) {
        synchronized (lock) {
            checkHeld(id);
            if (--refCounts[id] == 0) {
                freeStack[freeTop++] = id;
            }
        }
    }

    public void releaseAll(int[] ids, int count) {
        synchronized (lock) {
            for (int i = 0; i < count; i++) {
                release(ids[i]);
            }
        }
    }

    /** The holder count of a block; zero when free. */
    public int refCount(int id) {
        synchronized (lock) {
            checkId(id);
            return refCounts[id];
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= numBlocks) {
            throw new IllegalArgumentException("block id: " + id + " (expected: 0.." + (numBlocks - 1) + ")");
        }
    }

    private void checkHeld(int id) {
        checkId(id);
        if (refCounts[id] == 0) {
            throw new IllegalStateException("block " + id + " is free");
        }
    }
}
