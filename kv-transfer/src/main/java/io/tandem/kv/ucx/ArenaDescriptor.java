package io.tandem.kv.ucx;

import io.tandem.kv.KvBlockLayout;
import java.util.Arrays;

/**
 * What one engine publishes about its registered KV arena: the decoded form of an {@code endpoint_info}
 * string. The worker address and rkey are opaque UCX blobs.
 *
 * @param workerAddress the owner's UCX worker address
 * @param rkey the packed remote key of the arena
 * @param baseAddress address of block 0 in the owner's address space
 * @param length bytes of the arena
 * @param layout the layout of one block
 */
public record ArenaDescriptor(byte[] workerAddress, byte[] rkey, long baseAddress, long length,
                              KvBlockLayout layout) {

    public ArenaDescriptor {
        workerAddress = workerAddress.clone();
        rkey = rkey.clone();
    }

    /** Whole blocks in the arena. */
    public long numBlocks() {
        return length / layout.blockBytes();
    }

    @Override
    public byte[] workerAddress() {
        return workerAddress.clone();
    }

    @Override
    public byte[] rkey() {
        return rkey.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ArenaDescriptor d && Arrays.equals(workerAddress, d.workerAddress)
                && Arrays.equals(rkey, d.rkey) && baseAddress == d.baseAddress && length == d.length
                && layout.equals(d.layout);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(rkey) * 31 + Long.hashCode(baseAddress);
    }

    @Override
    public String toString() {
        return "ArenaDescriptor[base=0x" + Long.toHexString(baseAddress) + ", length=" + length + ", layout="
                + layout + ", workerAddress=" + workerAddress.length + " B, rkey=" + rkey.length + " B]";
    }
}
