package io.tandem.kv;

import java.lang.foreign.MemorySegment;

/**
 * The engine's KV arena: native memory that UCX allocated and registered once, so that peers read it in place
 * (UCX's shared-memory transports map UCX-allocated memory directly) and local reads land in it with no copy.
 * Page-aligned and zeroed when created. Valid until the owning {@link KvTransferEngine} is closed; the agent's
 * {@code KvMemoryProvider} hands {@link #segment()} to the block manager and never frees it itself.
 */
public interface RegisteredMemory {

    /** Virtual address of the first byte. */
    long address();

    /** Length in bytes. */
    long size();

    /** The memory as a segment of {@link #size()} bytes (not bounded by any Java arena; see the class note). */
    MemorySegment segment();
}
