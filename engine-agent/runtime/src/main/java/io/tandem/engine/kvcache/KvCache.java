package io.tandem.engine.kvcache;

import io.tandem.engine.kvcache.KvMemoryProvider.KvMemory;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The paged KV cache of one engine: a single native arena of {@code numBlocks} blocks laid out as
 * {@link KvLayout} describes, and the {@link BlockManager} that owns their ids.
 *
 * <p>Because the arena is one region, a transport registers it once and a peer addresses any block as
 * {@code base + id * blockBytes}. Thread-safety: the block manager is thread-safe; the memory itself is written
 * by the engine loop (forward pass) and by transfers into blocks that the engine has allocated to a migrating
 * sequence and does not touch until the transfer completes.
 *
 * <p>{@link #close()} frees the memory (an engine going to sleep does this); the block manager stays readable
 * (every block free), but the arena must not be touched afterwards.
 */
public final class KvCache implements AutoCloseable {
    private final KvLayout layout;
    private final int numBlocks;
    private final KvMemory memory;
    private final MemorySegment arena;
    private final BlockManager blocks;
    private final AtomicBoolean closed = new AtomicBoolean();

    public KvCache(KvLayout layout, int numBlocks, KvMemoryProvider provider) {
        if (numBlocks <= 0) {
            throw new IllegalArgumentException("numBlocks: " + numBlocks + " (expected: > 0)");
        }
        this.layout = layout;
        this.numBlocks = numBlocks;
        long bytes = Math.multiplyExact(layout.blockBytes(), (long) numBlocks);
        this.memory = provider.allocate(bytes);
        if (memory.segment().byteSize() < bytes) {
            memory.close();
            throw new IllegalStateException("KV memory provider returned " + memory.segment().byteSize()
                    + " bytes, " + bytes + " requested");
        }
        this.arena = memory.segment().asSlice(0, bytes);
        this.blocks = new BlockManager(numBlocks);
    }

    public KvLayout layout() {
        return layout;
    }

    public int numBlocks() {
        return numBlocks;
    }

    public BlockManager blocks() {
        return blocks;
    }

    /** The whole arena: {@code numBlocks * blockBytes} bytes. */
    public MemorySegment arena() {
        return arena;
    }

    /** Native address of block 0, what a peer adds {@code id * blockBytes} to. */
    public long baseAddress() {
        return arena.address();
    }

    /** Byte offset of block {@code id} in the arena. */
    public long blockOffset(int id) {
        return (long) id * layout.blockBytes();
    }

    /** One block's bytes. */
    public MemorySegment block(int id) {
        return arena.asSlice(blockOffset(id), layout.blockBytes());
    }

    /** Tokens the cache can hold. */
    public long capacityTokens() {
        return (long) numBlocks * layout.blockSize();
    }

    /** False once {@link #close()} has freed the arena. */
    public boolean isOpen() {
        return !closed.get();
    }

    /** Frees the arena. Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            memory.close();
        }
    }
}
