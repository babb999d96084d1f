package io.tandem.agent.control;

import io.tandem.agent.distserve.DistServeService;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.service.SessionRegistry;
import io.tandem.engine.scheduler.Engine;
import io.tandem.proto.AgentCommand;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Carries out one controller command on this agent. Each command completes its future when it has taken effect
 * (sleep and wake-up when the engine says so), or fails it with the reason the controller is told.
 *
 * <p>Drain has no undrain in the protocol yet: a drained agent refuses new generation requests (503) until it is
 * restarted. Thread-safe: the engine and the session registry are.
 */
final class CommandExecutor {
    private final AgentEngine agent;
    private final SessionRegistry sessions;
    private final ScheduledExecutorService timers;

    CommandExecutor(AgentEngine agent, SessionRegistry sessions, ScheduledExecutorService timers) {
        this.agent = agent;
        this.sessions = sessions;
        this.timers = timers;
    }

    CompletableFuture<Void> execute(AgentCommand command) {
        Engine engine = agent.engine();
        try {
            return switch (command.getKindCase()) {
                case DRAIN -> {
                    agent.setDrainedByController(true);
                    long deadlineMs = command.getDrain().getDeadlineMs();
                    if (deadlineMs > 0) {
                        // What is still running at the deadline is aborted; its clients see the stream end.
                        timers.schedule(() -> {
                            if (agent.drainedByController()) {
                                engine.abortAll();
                            }
                        }, deadlineMs, TimeUnit.MILLISECONDS);
                    }
                    yield CompletableFuture.completedFuture(null);
                }
                case SLEEP -> {
                    int level = command.getSleep().getLevel();
                    if (level != 1 && level != 2) {
                        throw new IllegalArgumentException("sleep.level: " + level + " (expected: 1 or 2)");
                    }
                    yield engine.sleep(level);
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
