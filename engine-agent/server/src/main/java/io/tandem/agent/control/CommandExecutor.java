package io.tandem.agent.control;

import io.tandem.agent.distserve.DistServeService;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.lifecycle.WeightUpdates;
import io.tandem.agent.service.SessionRegistry;
import io.tandem.engine.scheduler.Engine;
import io.tandem.proto.AgentCommand;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Carries out one controller command on this agent. Each command completes its future when it has taken effect
 * (sleep and wake-up when the engine says so), or fails it with the reason the controller is told.
 *
 * <p>A drained agent refuses new generation requests (503) until an undrain command (or a restart); an undrain also
 * voids the drain's pending deadline abort, so a later drain is not cut short by an earlier one's timer.
 * Thread-safe: the engine and the session registry are, and drains are counted atomically.
 */
final class CommandExecutor {
    private final AgentEngine agent;
    private final SessionRegistry sessions;
    private final ScheduledExecutorService timers;
    private final WeightUpdates weights;
    /** Bumped by every drain and undrain: a deadline timer aborts only if no drain or undrain came after it. */
    private final AtomicLong drainEpoch = new AtomicLong();

    CommandExecutor(AgentEngine agent, SessionRegistry sessions, WeightUpdates weights,
                    ScheduledExecutorService timers) {
        this.agent = agent;
        this.weights = weights;
        this.sessions = sessions;
        this.timers = timers;
    }

    CompletableFuture<Void> execute(AgentCommand command) {
        Engine engine = agent.engine();
        try {
            return switch (command.getKindCase()) {
                case DRAIN -> {
                    long epoch = drainEpoch.incrementAndGet();
                    agent.setDrainedByController(true);
                    long deadlineMs = command.getDrain().getDeadlineMs();
                    if (deadlineMs > 0) {
                        // What is still running at the deadline is aborted; its clients see the stream end.
                        timers.schedule(() -> {
                            if (agent.drainedByController() && drainEpoch.get() == epoch) {
                                engine.abortAll();
                            }
                        }, deadlineMs, TimeUnit.MILLISECONDS);
                    }
                    yield CompletableFuture.completedFuture(null);
                }
                case UNDRAIN -> {
                    drainEpoch.incrementAndGet();
                    agent.setDrainedByController(false);
                    yield CompletableFuture.completedFuture(null);
                }
                case SLEEP -> {
                    int level = command.getSleep().getLevel();
                    if (level != 1 && level != 2) {
                        throw new IllegalArgumentException("sleep.level: " + level + " (expected: 1 or 2)");
                    }
                    yield weights.sleep(level);
                }
                case WAKEUP -> {
                    Set<String> tags = Set.copyOf(command.getWakeup().getTagsList());
                    for (String t : tags) {
                        if (!t.equals("weights") && !t.equals("kv_cache")) {
                            throw new IllegalArgumentException("wakeup.tags: '" + t + "' (expected: weights or kv_cache)");
                        }
                    }
                    yield engine.wakeUp(tags);
                }
                // A notice only: the weights themselves arrive over HTTP (/update_weights).
                case UPDATE_WEIGHTS -> CompletableFuture.completedFuture(null);
                case ABORT_SESSION -> {
                    sessions.requests(command.getAbortSession().getSessionId()).forEach(engine::abort);
                    yield CompletableFuture.completedFuture(null);
                }
                case FREE_CACHE -> {
                    // Throws CacheSessionNotFoundException when nothing is held: the controller hears why.
                    engine.releaseCache(DistServeService.cacheKey(command.getFreeCache().getSessionId()));
                    yield CompletableFuture.completedFuture(null);
                }
                case KIND_NOT_SET -> throw new IllegalArgumentException("command " + command.getCommandId()
                        + ": no kind set (a newer controller?)");
            };
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }
}
