package io.tandem.controller;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Runs the controller's periodic work (health checks, heartbeat ticks, session gc). The system one
 * uses one daemon timer thread; tests pass a manual one and run due tasks by hand with a fake clock, so no test
 * sleeps.
 */
public interface PeriodicScheduler extends AutoCloseable {
    /** Runs {@code task} every {@code period} (fixed delay) until close; a task that throws is logged, not stopped. */
    void every(String name, Duration period, Runnable task);

    @Override
    void close();

    /** A scheduler on one daemon thread named "tandem-controller-timer". */
    static PeriodicScheduler system() {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tandem-controller-timer");
            t.setDaemon(true);
            return t;
        });
        System.Logger log = System.getLogger(PeriodicScheduler.class.getName());
        return new PeriodicScheduler() {
            @Override
            public void every(String name, Duration period, Runnable task) {
                timer.scheduleWithFixedDelay(() -> {
                    try {
                        task.run();
                    } catch (RuntimeException e) {
                        log.log(System.Logger.Level.WARNING, "periodic task " + name + " failed: " + e);
                    }
                }, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
            }

            @Override
            public void close() {
                timer.shutdownNow();
            }
        };
    }
}
