package io.tandem.engine.kvcache;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Where the KV arena's memory comes from. The default takes page-aligned native memory from a shared
 * {@link Arena}; the agent plugs in a provider whose memory UCX allocates and registers, so that peers can read
 * blocks in place (UCX's shared-memory transports map UCX-allocated memory directly, while JVM-allocated memory
 * falls back to a slow emulation path).
 */
@FunctionalInterface
public interface KvMemoryProvider {

    /** Returns {@code bytes} of zeroed, page-aligned native memory; closing the result frees it. */
    KvMemory allocate(long bytes);

    /** Native memory owned by someone who frees it on {@link #close()}. */
    interface KvMemory extends AutoCloseable {
        MemorySegment segment();

        @Override
        void close();
    }

    /** Page-aligned memory from a shared arena, freed when the arena closes. */
    static KvMemoryProvider offHeap() {
        return bytes -> {
            Arena arena = Arena.ofShared();
            MemorySegment seg = arena.allocate(bytes, 4096);
            return new KvMemory() {
                @Override
                public MemorySegment segment() {
                    return seg;
                }

                @Override
                public void close() {
                    arena.close();
                }
            };
        };
    }
}
