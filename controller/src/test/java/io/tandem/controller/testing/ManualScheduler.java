package io.tandem.controller.testing;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.tandem.controller.PeriodicScheduler;

/** A scheduler whose tasks run only when a test says so. */
public final class ManualScheduler implements PeriodicScheduler {
    private final Map<String, Runnable> tasks = new ConcurrentHashMap<>();

    @Override
    public void every(String name, Duration period, Runnable task) {
        tasks.put(name, task);
    }

    /** Runs the named task once. */
    public void run(String name) {
        Runnable task = tasks.get(name);
        if (task == null) {
            throw new IllegalArgumentException("no task " + name + " (have: " + tasks.keySet() + ")");
        }
        task.run();
    }

    public List<String> names() {
        return List.copyOf(tasks.keySet());
    }

    @Override
    public void close() {
        tasks.clear();
    }
}
