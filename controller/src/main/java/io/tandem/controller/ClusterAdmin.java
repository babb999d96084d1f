package io.tandem.controller;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

import com.fasterxml.jackson.databind.JsonNode;
import io.tandem.controller.NodeResult.Outcome;
import io.tandem.controller.admin.NodeAdminClient;
import io.tandem.controller.admin.NodeAdminClient.NodeAnswer;
import io.tandem.controller.errors.AgentCallException;
import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.controller.grpc.ClusterControlService;
import io.tandem.controller.grpc.NodeCommand;
import io.tandem.controller.internal.Json;
import io.tandem.controller.registry.NodeEvent;
import io.tandem.controller.registry.NodeRegistry;
import io.tandem.controller.registry.NodeSnapshot;

/**
 * Cluster-wide versions of the agents' management calls, for RL trainers and operators: a weight update of every
 * node of a model, sleep and wake-up. Built on the facade's drain and undrain.
 *
 * <p><b>Weight commit</b> ({@code finished: true}), per node: drain it (out of rotation at once; an attached agent
 * is told, without a deadline, so nothing is aborted), wait until its in-flight requests are done (the requests this
 * controller routed there, and for an attached agent a load report taken after the drain showing nothing running or
 * waiting) or the drain timeout passes, POST the body to the node's {@code /update_weights}, then undrain it.
 * Rolling: one node after the other, stopping at the first failure (the rest are SKIPPED and keep serving the old
 * weights); all at once: every node drained and updated together (requests meanwhile get 503). A staging request
 * ({@code finished: false}) only stages tensors, which serve nothing yet, so it goes to every node at once without a
 * drain.
 *
 * <p><b>Failures.</b> A node that answers 4xx refused the body (the agent then discards what it staged and keeps its
 * weights), so it goes back into rotation, consistent with the others. A node that answers 5xx or not at all is in
 * an unknown state and is left drained for an operator ({@code /nodes/undrain} once checked, or another update).
 * A node an operator had drained before the update is updated and left drained.
 *
 * <p><b>Weights versions.</b> A node whose commit succeeded and whose answer names a {@code weights_version} (our
 * agents do) must report that version from now on, and so must nodes of the same model that join later; a node
 * that reports another one (it restarted, or slept at level 2, and lost the pushed weights) is out of rotation
 * ({@link NodeSnapshot#staleWeights()}) until a commit reaches it or an operator undrains it as it is.
 *
 * <p><b>Sleep</b> takes the node out of rotation first (a sleeping agent answers 503), then tells it (over its
 * control stream when attached, else {@code POST /sleep}); a node that refuses goes back. <b>Wake-up</b> tells the
 * node first and puts it back when it confirmed.
 *
 * <p>Thread-safe; never blocks (waiting for idle nodes polls the registry snapshot on a delayed executor). One weight
 * update at a time: a second one fails with NodeConflictException while the first runs.
 */
final class ClusterAdmin {
    private static final Duration IDLE_POLL = Duration.ofMillis(50);
    private static final int DETAIL_CHARS = 500;

    private final Controller controller;
    private final NodeRegistry registry;
    private final ClusterControlService control;
    private final NodeAdminClient nodes;
    private final Clock clock;
    private final Executor callbacks;
    private final AtomicBoolean updating = new AtomicBoolean();

    ClusterAdmin(Controller controller, NodeRegistry registry, ClusterControlService control, NodeAdminClient nodes,
                 Clock clock, Executor callbacks) {
        this.controller = controller;
        this.registry = registry;
        this.control = control;
        this.nodes = nodes;
        this.clock = clock;
        this.callbacks = callbacks;
    }

    /** The nodes of {@code model} (every node when empty); fails when there are none. */
    List<NodeSnapshot> targets(Optional<String> model) {
        List<NodeSnapshot> all = registry.nodes();
        if (all.isEmpty()) {
            throw new NoHealthyNodeException("no nodes in the pool");
        }
        if (model.isEmpty()) {
            return all;
        }
        List<NodeSnapshot> of = all.stream().filter(n -> n.serves(model.get())).toList();
        if (of.isEmpty()) {
            throw new UnknownModelException("model: '" + model.get() + "' (no node serves it; served: "
                    + controller.models() + ")");
        }
        return of;
    }

    CompletableFuture<List<NodeResult>> updateWeights(WeightUpdate update) {
        List<NodeSnapshot> targets = targets(update.model());
        if (!updating.compareAndSet(false, true)) {
            return CompletableFuture.failedFuture(new NodeConflictException(
                    "a weight update is already running; send the next one when it has answered"));
        }
        CompletableFuture<List<NodeResult>> run;
        if (!update.finished()) {
            run = each(targets, n -> stage(n, update));
        } else if (update.rolling()) {
            run = rolling(targets, update, 0, new ArrayList<>());
        } else {
            run = each(targets, n -> commit(n, update));
        }
        return run.whenComplete((r, e) -> updating.set(false));
    }

    CompletableFuture<List<NodeResult>> sleep(Optional<String> model, int level) {
        NodeCommand.Sleep command = new NodeCommand.Sleep(level);
        return each(targets(model), n -> registry.apply(new NodeEvent.SleepSet(n.url(), level))
                .thenCompose(x -> tell(n.url(), command, "/sleep?level=" + level))
                .thenCompose(answer -> result(n.url(), Outcome.DONE, answer, Optional.empty()))
                .exceptionallyCompose(e -> registry.apply(new NodeEvent.SleepSet(n.url(), 0))
                        .thenCompose(x -> failed(n.url(), e, "did not go to sleep, back in rotation: "))));
    }

    CompletableFuture<List<NodeResult>> wakeUp(Optional<String> model, List<String> tags) {
        NodeCommand.WakeUp command = new NodeCommand.WakeUp(tags);
        StringBuilder query = new StringBuilder("/wakeup");
        for (int i = 0; i < tags.size(); i++) {
            query.append(i == 0 ? "?" : "&").append("tags=").append(tags.get(i));
        }
        return each(targets(model), n -> tell(n.url(), command, query.toString())
                .thenCompose(answer -> registry.apply(new NodeEvent.SleepSet(n.url(), 0))
                        .thenCompose(x -> result(n.url(), Outcome.DONE, answer, Optional.empty())))
                .exceptionallyCompose(e -> failed(n.url(), e, "did not wake up: ")));
    }

    /** Each node's own {@code GET /is_sleeping} answer. */
    CompletableFuture<List<NodeResult>> isSleeping(Optional<String> model) {
        return each(targets(model), n -> nodes.get(n.url(), "/is_sleeping")
                .thenCompose(a -> a.ok() ? result(n.url(), Outcome.DONE, a, Optional.empty())
                        : result(n.url(), Outcome.FAILED, new NodeAnswer(a.status(), a.shortBody(DETAIL_CHARS)),
                                Optional.empty()))
                .exceptionallyCompose(e -> failed(n.url(), e, "")));
    }

    // ---------------------------------------------------------------- weights

    private CompletableFuture<List<NodeResult>> rolling(List<NodeSnapshot> targets, WeightUpdate update, int i,
                                                        List<NodeResult> results) {
        if (i == targets.size()) {
            return CompletableFuture.completedFuture(results);
        }
        return commit(targets.get(i), update).thenCompose(r -> {
            results.add(r);
            if (!r.done()) {
                for (NodeSnapshot rest : targets.subList(i + 1, targets.size())) {
                    results.add(new NodeResult(rest.url(), Outcome.SKIPPED, 0, "not tried: " + r.url()
                            + " failed first; this node keeps its weights", Optional.empty(), inRotation(rest.url())));
                }
                return CompletableFuture.completedFuture(results);
            }
            return rolling(targets, update, i + 1, results);
        });
    }

    private CompletableFuture<NodeResult> stage(NodeSnapshot n, WeightUpdate update) {
        return nodes.post(n.url(), "/update_weights", update.nodeBody())
                .thenCompose(a -> result(n.url(), a.ok() ? Outcome.DONE : Outcome.FAILED, a, Optional.empty()))
                .exceptionallyCompose(e -> failed(n.url(), e, ""));
    }

    private CompletableFuture<NodeResult> commit(NodeSnapshot n, WeightUpdate update) {
        String url = n.url();
        boolean resume = !n.draining();
        Instant start = clock.instant();
        return controller.drain(url, Duration.ZERO)
                .thenCompose(s -> waitIdle(url, start, start.plus(update.drainTimeout())))
                .thenCompose(idle -> nodes.post(url, "/update_weights", update.nodeBody())
                        .thenCompose(a -> {
                            Optional<Boolean> i = Optional.of(idle);
                            if (a.ok()) {
                                return committed(url, a).thenCompose(x -> undrain(url, resume, a, Outcome.DONE, "",
                                        i));
                            }
                            if (a.status() / 100 == 4) {
                                return undrain(url, resume, a, Outcome.FAILED,
                                        "refused by the node, which keeps its weights: ", i);
                            }
                            return result(url, Outcome.FAILED, new NodeAnswer(a.status(),
                                    "failed on the node, left drained: " + a.shortBody(DETAIL_CHARS)), i);
                        })
                        .exceptionallyCompose(e -> failed(url, e, "no answer, left drained: ", Optional.of(idle))))
                .exceptionallyCompose(e -> failed(url, e, "could not drain it: "));
    }

    /**
     * Records the weights version the node's answer names ({@code weights_version}: our agents name one), which
     * the node must report from now on; an answer that names none (not our agent) changes nothing.
     */
    private CompletableFuture<Object> committed(String url, NodeAnswer answer) {
        String version;
        try {
            JsonNode v = Json.MAPPER.readTree(answer.body()).path("weights_version");
            version = v.isTextual() ? v.asText().strip() : "";
        } catch (IOException | RuntimeException e) {
            version = "";
        }
        return version.isEmpty() ? CompletableFuture.completedFuture(null)
                : registry.apply(new NodeEvent.WeightsCommitted(url, version));
    }

    private CompletableFuture<NodeResult> undrain(String url, boolean resume, NodeAnswer answer, Outcome outcome,
                                                  String prefix, Optional<Boolean> idle) {
        NodeAnswer shown = new NodeAnswer(answer.status(), prefix + answer.shortBody(DETAIL_CHARS));
        if (!resume) {
            return result(url, outcome, shown, idle);
        }
        return controller.undrain(url).thenCompose(s -> result(url, outcome, shown, idle))
                .exceptionallyCompose(e -> result(url, Outcome.FAILED, new NodeAnswer(answer.status(),
                        (outcome == Outcome.DONE ? "updated, but " : shown.body() + "; ")
                                + "could not put it back into rotation: " + message(e)), idle));
    }

    /** Completes with true once the node has nothing in flight, with false at {@code deadline}. */
    private CompletableFuture<Boolean> waitIdle(String url, Instant since, Instant deadline) {
        CompletableFuture<Boolean> idle = new CompletableFuture<>();
        pollIdle(url, since, deadline, idle);
        return idle;
    }

    private void pollIdle(String url, Instant since, Instant deadline, CompletableFuture<Boolean> idle) {
        Optional<NodeSnapshot> n = registry.node(url);
        if (n.isEmpty()) {
            idle.completeExceptionally(new NodeNotFoundException("node " + url + " left the pool"));
        } else if (isIdle(n.get(), since)) {
            idle.complete(true);
        } else if (!clock.instant().isBefore(deadline)) {
            idle.complete(false);
        } else {
            CompletableFuture.delayedExecutor(IDLE_POLL.toMillis(), TimeUnit.MILLISECONDS, callbacks)
                    .execute(() -> pollIdle(url, since, deadline, idle));
        }
    }

    private static boolean isIdle(NodeSnapshot n, Instant since) {
        if (n.unfinished() > 0) {
            return false;
        }
        // An attached agent also runs requests that did not come through this controller; its load report says.
        return !n.attached() || n.load().map(l -> l.running() == 0 && l.waiting() == 0
                && !l.reportedAt().isBefore(since)).orElse(true);
    }

    // ---------------------------------------------------------------- helpers

    /** A command over the control stream when attached (answer status 0), else the node's HTTP endpoint. */
    private CompletableFuture<NodeAnswer> tell(String url, NodeCommand command, String pathAndQuery) {
        if (control.isAttached(url)) {
            return controller.sendCommand(url, command).thenApply(v -> new NodeAnswer(0, "{}"));
        }
        return nodes.post(url, pathAndQuery, new byte[0]).thenApply(a -> {
            if (!a.ok()) {
                throw new AgentCallException("POST " + url + pathAndQuery + " answered " + a.status() + ": "
                        + a.shortBody(DETAIL_CHARS), a.status(), false, null);
            }
            return a;
        });
    }

    private static <T> CompletableFuture<List<NodeResult>> each(List<T> items,
                                                                Function<T, CompletableFuture<NodeResult>> op) {
        List<CompletableFuture<NodeResult>> all = items.stream().map(op).toList();
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
                .thenApply(v -> all.stream().map(CompletableFuture::join).toList());
    }

    private CompletableFuture<NodeResult> result(String url, Outcome outcome, NodeAnswer answer,
                                                 Optional<Boolean> idle) {
        return CompletableFuture.completedFuture(new NodeResult(url, outcome, answer.status(), answer.body(), idle,
                inRotation(url)));
    }

    private CompletableFuture<NodeResult> failed(String url, Throwable error, String prefix) {
        return failed(url, error, prefix, Optional.empty());
    }

    private CompletableFuture<NodeResult> failed(String url, Throwable error, String prefix, Optional<Boolean> idle) {
        Throwable cause = unwrap(error);
        int status = cause instanceof AgentCallException a ? Math.max(0, a.httpStatus()) : 0;
        return result(url, Outcome.FAILED, new NodeAnswer(status, prefix + message(cause)), idle);
    }

    private boolean inRotation(String url) {
        return registry.node(url).map(n -> !n.draining() && !n.sleeping()).orElse(false);
    }

    private static Throwable unwrap(Throwable e) {
        return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }

    private static String message(Throwable e) {
        Throwable c = unwrap(e);
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}
