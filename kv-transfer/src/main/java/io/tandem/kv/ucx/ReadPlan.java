package io.tandem.kv.ucx;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns the block ids of one migration into RDMA reads: a run of blocks whose remote ids are consecutive AND
 * whose local ids are consecutive is one contiguous region on both sides, so it becomes one GET (split at
 * {@code maxReadBytes}). Pure and thread-safe.
 */
public final class ReadPlan {

    /** One GET: {@code bytes} from the peer's {@code remoteOffset} to the local {@code localOffset}. */
    public record Read(long remoteOffset, long localOffset, long bytes) {
    }

    private ReadPlan() {
    }

    /**
     * @param remoteBlockIds block ids in the peer's arena, in migration order
     * @param localBlockIds where each lands in the local arena; same length
     * @param blockBytes bytes per block
     * @param remoteBlocks blocks in the peer's arena (ids must be below it)
     * @param localBlocks blocks in the local arena
     * @param maxReadBytes the largest single read; at least one block
     */
    public static List<Read> plan(int[] remoteBlockIds, int[] localBlockIds, long blockBytes, long remoteBlocks,
                                  long localBlocks, long maxReadBytes) {
        if (remoteBlockIds.length != localBlockIds.length) {
            throw new IllegalArgumentException("localBlockIds.length: " + localBlockIds.length
                    + " (expected: remoteBlockIds.length " + remoteBlockIds.length + ")");
        }
        if (blockBytes <= 0) {
            throw new IllegalArgumentException("blockBytes: " + blockBytes + " (expected: > 0)");
        }
        long maxBlocksPerRead = Math.max(1, maxReadBytes / blockBytes);
        for (int i = 0; i < remoteBlockIds.length; i++) {
            checkId("remoteBlockIds", i, remoteBlockIds[i], remoteBlocks);
            checkId("localBlockIds", i, localBlockIds[i], localBlocks);
        }
        List<Read> reads = new ArrayList<>();
        int i = 0;
        while (i < remoteBlockIds.length) {
            int start = i;
            i++;
            while (i < remoteBlockIds.length && i - start < maxBlocksPerRead
                    && remoteBlockIds[i] == remoteBlockIds[i - 1] + 1
                    && localBlockIds[i] == localBlockIds[i - 1] + 1) {
                i++;
            }
            reads.add(new Read(remoteBlockIds[start] * blockBytes, localBlockIds[start] * blockBytes,
                    (i - start) * blockBytes));
        }
        return reads;
    }

    private static void checkId(String name, int index, int id, long limit) {
        if (id < 0 || id >= limit) {
            throw new IllegalArgumentException(name + "[" + index + "]: " + id + " (expected: 0 <= id < " + limit
                    + ")");
        }
    }
}
