package io.tandem.bench.kernels;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * CPU time consumed by the benchmark's compute threads (the caller plus the {@code tandem-compute-*} pool workers).
 *
 * <p>On a shared machine wall-clock rates swing with the neighbours' load; bytes or flops per CPU-second, times the
 * thread count, estimate what the same code does with the cores to itself. Memory stalls count as CPU time, so this is
 * fair for bandwidth-bound kernels too; the workers' brief idle spinning between loops counts against us. Not
 * thread-safe; call from the benchmark thread.
 */
public final class CpuClock {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    private CpuClock() {
    }

    /** Sum of CPU nanoseconds of an engine's loop thread ({@code tandem-engine}) and all live pool workers. */
    public static long engineNanos() {
        long sum = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("tandem-compute-") || t.getName().equals("tandem-engine")) {
                long c = MX.getThreadCpuTime(t.threadId());
                if (c > 0) {
                    sum += c;
                }
            }
        }
        return sum;
    }

    /** Sum of CPU nanoseconds of the current thread and all live pool workers. */
    static long nanos() {
        long sum = MX.getCurrentThreadCpuTime();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("tandem-compute-")) {
                long c = MX.getThreadCpuTime(t.threadId());
                if (c > 0) {
                    sum += c;
                }
            }
        }
        return sum;
    }
}
