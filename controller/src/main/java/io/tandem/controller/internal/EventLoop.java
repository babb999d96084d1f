package io.tandem.controller.internal;

import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

import io.tandem.controller.errors.ControllerClosedException;

/**
 * The single owner thread of the cluster state (registry, pairing, sessions). Every change to that state is a named
 * task run here, one at a time, in submission order; callers get a {@link CompletableFuture} that completes on this
 * thread. Keep tasks short and non-blocking: network calls are started from here and their completions are handed
 * back with {@link #submit}.
 *
 * <p>Thread-safe.
 */
public final class EventLoop implements AutoCloseable {
    private final ExecutorService executor;
    private volatile Thread thread;

    public EventLoop(String name) {
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            thread = t;
            return t;
        });
    }

    /** Runs {@code task} on the owner thread; the future fails with what it throws. */
    public <T> CompletableFuture<T> submit(String eventName, Callable<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                try {
                    result.complete(task.call());
                } catch (Throwable e) {
                    result.completeExceptionally(e);
                }
            });
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new ControllerClosedException("controller closed; dropped event " + eventName));
        }
        return result;
    }

    /** Runs {@code task} on the owner thread, fire and forget (failures are the task's own business). */
    public void execute(String eventName, Runnable task) {
        submit(eventName, () -> {
            task.run();
            return null;
        });
    }

    /** Whether the caller is the owner thread; owner-only methods assert it. */
    public boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    public void checkInLoop() {
        if (!inLoop()) {
            throw new IllegalStateException("must run on the controller event thread, not " + Thread.currentThread().getName());
        }
    }

    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(2, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
