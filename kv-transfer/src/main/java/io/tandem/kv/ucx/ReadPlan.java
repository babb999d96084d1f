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

    /**
     * Spreads a migration's reads over {@code lanes} lanes (workers with their own threads, see
     * {@link UcxTransport}) so that each lane copies about the same number of bytes: the reads are cut, in order, into
     * consecutive shares of {@code ceil(total / lanes)} bytes, rounded up to {@code align}, but never smaller than
     * {@code minLaneBytes}, so a small migration stays on fewer lanes (one below {@code 2 * minLaneBytes}). A read
     * that straddles two shares is cut in two. Lane {@code i} gets share {@code i}; lanes with no share get an empty
     * list.
     *
     * @param reads the reads of one migration, as {@link #plan} returns them
     * @param lanes the number of lanes, at least 1
     * @param minLaneBytes the smallest share worth a lane of its own, at least 1
     * @param align share boundaries are multiples of this many bytes from the start of the migration (a page)
     * @return {@code lanes} lists, every byte of {@code reads} in exactly one of them
     */
    public static List<List<Read>> spread(List<Read> reads, int lanes, long minLaneBytes, long align) {
        if (lanes < 1 || minLaneBytes < 1 || align < 1) {
            throw new IllegalArgumentException("lanes: " + lanes + ", minLaneBytes: " + minLaneBytes + ", align: "
                    + align + " (expected: all >= 1)");
        }
        long total = 0;
        for (Read r : reads) {
            total += r.bytes();
        }
        long share = Math.max(minLaneBytes, ceilDiv(total, lanes));
        share = ceilDiv(share, align) * align;
        List<List<Read>> out = new ArrayList<>(lanes);
        for (int i = 0; i < lanes; i++) {
            out.add(new ArrayList<>());
        }
        int lane = 0;
        long room = share;
        for (Read r : reads) {
            long done = 0;
            while (done < r.bytes()) {
                if (room == 0 && lane < lanes - 1) {
                    lane++;
                    room = share;
                }
                long n = lane == lanes - 1 ? r.bytes() - done : Math.min(room, r.bytes() - done);
                out.get(lane).add(new Read(r.remoteOffset() + done, r.localOffset() + done, n));
                done += n;
                room -= Math.min(room, n);
            }
        }
        return out;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static void checkId(String name, int index, int id, long limit) {
        if (id < 0 || id >= limit) {
            throw new IllegalArgumentException(name + "[" + index + "]: " + id + " (expected: 0 <= id < " + limit
                    + ")");
        }
    }
}
