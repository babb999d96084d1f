package io.tandem.engine.kernels;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A fixed set of worker threads for data-parallel loops, built for low dispatch latency: decode calls
 * {@link #parallelFor} about sixty times per token, so a round trip through an {@code ExecutorService}
 * (queue, futures, wake-ups) would cost more than many of the loops themselves.
 *
 * <p>Design: the caller publishes an immutable job (body, task count, its own claim and completion counters) through a
 * volatile field; workers spin briefly on that field (then park) and, together with the caller, claim task indices
 * from the job's atomic counter until none are left. Dynamic claiming balances the load when a core is shared with
 * other processes. The caller returns as soon as every task has <em>completed</em>; it does not wait for idle workers
 * to notice the job, so a worker that the OS has descheduled delays a loop only if it holds a claimed task. A worker
 * that wakes up late finds its job's counter exhausted and does nothing.
 *
 * <p>Thread safety: one caller at a time. A second concurrent call (or a nested call from inside a body) is detected
 * and rejected with {@link IllegalStateException} rather than deadlocking. {@link #close()} may be called from any
 * thread when no loop is running.
 *
 * <p>Failures: the first exception thrown by any task is rethrown to the caller (unchecked exceptions and errors as
 * they are); once a task has failed, tasks not yet claimed are skipped.
 */
public final class ComputePool implements AutoCloseable {

    /** How long an idle thread spins before parking; about the gap between two matmuls of one decode step. */
    private static final long SPIN_NANOS = 50_000;

    private final int threads;
    private final Thread[] workers;
    /** True while worker i is (about to be) parked and needs an unpark to see a new job. */
    private final AtomicBoolean[] parked;
    private final AtomicBoolean busy = new AtomicBoolean();

    private volatile Job job;
    private volatile boolean closed;

    /** One parallel loop. Counters live here, not in the pool, so stragglers from an old loop cannot touch a new one. */
    private static final class Job {
        final IntConsumer body;
        final int tasks;
        final Thread caller;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(IntConsumer body, int tasks, Thread caller) {
            this.body = body;
            this.tasks = tasks;
            this.caller = caller;
        }
    }

    /** A pool with one thread per available processor (the caller counts as one of them). */
    public ComputePool() {
        this(Runtime.getRuntime().availableProcessors());
    }

    /**
     * A pool in which {@code threads} threads run each loop: the calling thread plus {@code threads - 1} daemon
     * workers.
     */
    public ComputePool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads: " + threads + " (expected: >= 1)");
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.parked = new AtomicBoolean[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            parked[i] = new AtomicBoolean();
            int index = i;
            Thread t = new Thread(() -> workerLoop(index), "tandem-compute-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
        }
        for (Thread t : workers) {
            t.start();
        }
    }

    /** Threads that run a loop, the caller included. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.accept(i)} for every {@code i} in {@code [0, tasks)}, each exactly once, spread over the pool's
     * threads including the caller, and returns when all have finished (their effects are then visible to the caller).
     *
     * @throws IllegalStateException if the pool is closed or another loop is running
     */
    public void parallelFor(int tasks, IntConsumer body) {
        Objects.requireNonNull(body, "body");
        if (tasks < 0) {
            throw new IllegalArgumentException("tasks: " + tasks + " (expected: >= 0)");
        }
        if (closed) {
            throw new IllegalStateException("pool is closed");
        }
        if (tasks == 0) {
            return;
        }
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("parallelFor is already running (one caller at a time, no nesting)");
        }
        try {
            if (tasks == 1 || workers.length == 0) {
                for (int i = 0; i < tasks; i++) {
                    body.accept(i);
                }
                return;
            }
            Job j = new Job(body, tasks, Thread.currentThread());
            job = j; // the volatile write publishes the job
            for (int i = 0; i < workers.length; i++) {
                if (parked[i].get()) {
                    LockSupport.unpark(workers[i]);
                }
            }
            runTasks(j);
            awaitCompletion(j);
            Throwable t = j.failure.get();
            if (t != null) {
                if (t instanceof RuntimeException re) {
                    throw re;
                }
                if (t instanceof Error e) {
                    throw e;
                }
                throw new RuntimeException(t);
            }
        } finally {
            busy.set(false);
        }
    }

    /**
     * Splits {@code [0, n)} into about {@code chunksPerThread * threads()} ranges whose starts are multiples of
     * {@code align}, and runs {@code body.run(from, to)} for each in parallel.
     */
    public void parallelRanges(int n, int align, int chunksPerThread, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int target = Math.max(1, chunksPerThread * threads);
        int chunk = Math.max(align, (n + target - 1) / target);
        chunk = (chunk + align - 1) / align * align;
        int size = chunk;
        int count = (n + size - 1) / size;
        parallelFor(count, i -> body.run(i * size, Math.min(n, (i + 1) * size)));
    }

    /** Body of {@link #parallelRanges}: handles elements {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    private static void runTasks(Job j) {
        int i;
        while ((i = j.next.getAndIncrement()) < j.tasks) {
            int completed = 1;
            try {
                j.body.accept(i);
            } catch (Throwable t) {
                j.failure.compareAndSet(null, t);
                // Skip the tasks nobody has claimed yet; they count as done so that the caller is released.
                completed += Math.max(0, j.tasks - j.next.getAndSet(j.tasks));
            }
            // The atomic add is the release that makes this task's writes visible to the caller's acquire read.
            if (j.done.addAndGet(completed) == j.tasks && Thread.currentThread() != j.caller) {
                LockSupport.unpark(j.caller);
            }
        }
    }

    private static void awaitCompletion(Job j) {
        long spinUntil = System.nanoTime() + SPIN_NANOS;
        int spins = 0;
        while (j.done.get() < j.tasks) {
            if (++spins < 64 || System.nanoTime() < spinUntil) {
                Thread.onSpinWait();
            } else {
                // The thread finishing the last task unparks us; the timeout guards against a lost wake-up.
                LockSupport.parkNanos(j, 100_000);
            }
        }
    }

    private void workerLoop(int index) {
        Job seen = null;
        AtomicBoolean myParked = parked[index];
        while (true) {
            Job j;
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            int spins = 0;
            while ((j = job) == seen && !closed) {
                if ((++spins & 63) != 0 || System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    myParked.set(true);
                    // Re-check after announcing: the caller reads the flag after publishing the job.
                    if (job == seen && !closed) {
                        LockSupport.park(this);
                    }
                    myParked.set(false);
                    spinUntil = System.nanoTime() + SPIN_NANOS;
                }
            }
            if (closed) {
                return;
            }
            seen = j;
            runTasks(j);
        }
    }

    /** Stops the workers and waits for them to exit. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Thread t : workers) {
            LockSupport.unpark(t);
        }
        for (Thread t : workers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
