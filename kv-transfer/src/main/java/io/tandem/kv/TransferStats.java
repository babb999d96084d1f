package io.tandem.kv;

/**
 * The outcome of one finished migration.
 *
 * @param blocks blocks moved
 * @param reads RDMA GET operations issued (after coalescing contiguous runs; at most {@code blocks})
 * @param bytes bytes moved
 * @param nanos wall time from {@code read} to the last completion
 */
public record TransferStats(int blocks, int reads, long bytes, long nanos) {

    /** Bandwidth in bytes per second; 0 for an empty migration. */
    public double bytesPerSecond() {
        return nanos == 0 ? 0 : bytes * 1e9 / nanos;
    }
}
