package io.tandem.controller.grpc;

import java.util.Optional;

import io.grpc.Status;
import io.tandem.controller.errors.ControllerClosedException;
import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.errors.UnknownModelException;
import io.tandem.controller.registry.DistServeEngineConfig;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeEvent;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.proto.AbortSessionCommand;
import io.tandem.proto.AgentCommand;
import io.tandem.proto.AgentLoadReport;
import io.tandem.proto.AgentRegistration;
import io.tandem.proto.DrainCommand;
import io.tandem.proto.EngineConfig;
import io.tandem.proto.FreeCacheCommand;
import io.tandem.proto.SleepCommand;
import io.tandem.proto.UndrainCommand;
import io.tandem.proto.UpdateWeightsCommand;
import io.tandem.proto.WakeUpCommand;

/** Generated protobuf classes stop here: conversions to and from the controller's domain records. */
final class ProtoConversions {
    private ProtoConversions() {}

    static NodeSpec toSpec(AgentRegistration r) {
        EngineRole role = switch (r.getRole()) {
            case ENGINE_ROLE_HYBRID -> EngineRole.HYBRID;
            case ENGINE_ROLE_PREFILL -> EngineRole.PREFILL;
            case ENGINE_ROLE_DECODE -> EngineRole.DECODE;
            default -> throw new InvalidNodeException("role: " + r.getRoleValue()
                    + " (expected: 1 Hybrid, 2 Prefill or 3 Decode)");
        };
        if (r.getModelsCount() == 0) {
            throw new InvalidNodeException("models: [] (expected: at least one model name)");
        }
        Optional<DistServeEngineConfig> config = r.hasEngineConfig() ? Optional.of(toConfig(r.getEngineConfig()))
                : Optional.empty();
        if (r.getSpeed() < 0) {
            throw new InvalidNodeException("speed: " + r.getSpeed() + " (expected: >= 0)");
        }
        return new NodeSpec(r.getUrl(), role, r.getModelsList(), r.getSpeed() == 0 ? null : r.getSpeed(), config,
                NodeSource.STREAM);
    }

    static DistServeEngineConfig toConfig(EngineConfig c) {
        return new DistServeEngineConfig(c.getTpSize(), c.getDpSize(), c.getPpSize(), c.getEpSize(), c.getDpRank(),
                c.getBlockSize(), c.getNumCpuBlocks(), c.getNumGpuBlocks());
    }

    static NodeEvent.LoadReport toEvent(String url, AgentLoadReport r) {
        if (r.getRunning() < 0 || r.getWaiting() < 0 || r.getKvBlocksUsed() < 0 || r.getKvBlocksFree() < 0
                || !(r.getTokensPerSecond() >= 0)) {
            throw new IllegalArgumentException("load report: " + r.toString().replace('\n', ' ')
                    + " (expected: every field >= 0)");
        }
        return new NodeEvent.LoadReport(url, r.getRunning(), r.getWaiting(), r.getKvBlocksUsed(), r.getKvBlocksFree(),
                r.getTokensPerSecond());
    }

    static AgentCommand toProto(long id, NodeCommand command) {
        AgentCommand.Builder b = AgentCommand.newBuilder().setCommandId(id);
        switch (command) {
            case NodeCommand.Drain d -> b.setDrain(DrainCommand.newBuilder().setDeadlineMs(d.deadline().toMillis()));
            case NodeCommand.Undrain u -> b.setUndrain(UndrainCommand.getDefaultInstance());
            case NodeCommand.Sleep s -> b.setSleep(SleepCommand.newBuilder().setLevel(s.level()));
            case NodeCommand.WakeUp w -> b.setWakeup(WakeUpCommand.newBuilder().addAllTags(w.tags()));
            case NodeCommand.UpdateWeightsNotice u -> b.setUpdateWeights(UpdateWeightsCommand.newBuilder().setVersion(u.version()));
            case NodeCommand.AbortSession a -> b.setAbortSession(AbortSessionCommand.newBuilder().setSessionId(a.sessionId()));
            case NodeCommand.FreeCache f -> b.setFreeCache(FreeCacheCommand.newBuilder().setSessionId(f.sessionId()));
        }
        return b.build();
    }

    /** The gRPC status for a controller failure, with its message as the description. */
    static Status toStatus(Throwable error) {
        Throwable e = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                ? error.getCause() : error;
        Status status = switch (e) {
            case InvalidNodeException x -> Status.INVALID_ARGUMENT;
            case IllegalArgumentException x -> Status.INVALID_ARGUMENT;
            case NodeConflictException x -> Status.FAILED_PRECONDITION;
            case NodeNotFoundException x -> Status.NOT_FOUND;
            case UnknownModelException x -> Status.NOT_FOUND;
            case ControllerClosedException x -> Status.UNAVAILABLE;
            default -> Status.INTERNAL;
        };
        return status.withDescription(e.getMessage());
    }
}
