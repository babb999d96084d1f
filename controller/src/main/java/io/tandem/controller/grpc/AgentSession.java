package io.tandem.controller.grpc;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.tandem.controller.errors.CommandFailedException;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.proto.AgentCommandResult;
import io.tandem.proto.ControllerMessage;

/**
 * One agent's attached stream: the outbound half and the commands waiting for their results.
 *
 * <p>Thread-safe. gRPC's outbound observer must not be called concurrently, and commands are sent from any
 * thread while the registration answer and stream errors come from others, so every write holds {@code lock}.
 */
final class AgentSession {
    final String url;
    private final Object lock = new Object();
    // @GuardedBy("lock")
    private final StreamObserver<ControllerMessage> out;
    // @GuardedBy("lock")
    private boolean closed;
    private final AtomicLong nextCommandId = new AtomicLong(1);
    private final Map<Long, CompletableFuture<Void>> pending = new ConcurrentHashMap<>();

    AgentSession(String url, StreamObserver<ControllerMessage> out) {
        this.url = url;
        this.out = out;
    }

    boolean send(ControllerMessage message) {
        synchronized (lock) {
            if (closed) {
                return false;
            }
            out.onNext(message);
            return true;
        }
    }

    /** Ends the stream with {@code status}; pending commands fail. */
    void close(Status status) {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            try {
                if (status.isOk()) {
                    out.onCompleted();
                } else {
                    out.onError(status.asRuntimeException());
                }
            } catch (IllegalStateException alreadyClosed) {
                // the call was cancelled by the peer meanwhile
            }
        }
        failPending("control stream of " + url + " closed: " + status.getCode());
    }

    /** The stream ended from the agent's side. */
    void ended(String reason) {
        synchronized (lock) {
            closed = true;
        }
        failPending("control stream of " + url + " ended: " + reason);
    }

    CompletableFuture<Void> command(NodeCommand command, Duration timeout) {
        long id = nextCommandId.getAndIncrement();
        CompletableFuture<Void> result = new CompletableFuture<>();
        pending.put(id, result);
        if (!send(ControllerMessage.newBuilder().setCommand(ProtoConversions.toProto(id, command)).build())) {
            pending.remove(id);
            return CompletableFuture.failedFuture(new NodeUnavailableException("control stream of " + url + " is closed"));
        }
        return result.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS).exceptionallyCompose(e -> {
            pending.remove(id);
            if (e instanceof TimeoutException) {
                return CompletableFuture.failedFuture(new CommandFailedException(
                        command + " on " + url + ": no answer within " + timeout.toMillis() + " ms"));
            }
            return CompletableFuture.failedFuture(e);
        });
    }

    void result(AgentCommandResult r) {
        CompletableFuture<Void> f = pending.remove(r.getCommandId());
        if (f == null) {
            return; // timed out already, or an id we never sent
        }
        if (r.getOk()) {
            f.complete(null);
        } else {
            f.completeExceptionally(new CommandFailedException("command " + r.getCommandId() + " on " + url
                    + " failed: " + r.getError()));
        }
    }

    private void failPending(String why) {
        pending.values().forEach(f -> f.completeExceptionally(new NodeUnavailableException(why)));
        pending.clear();
    }
}
