package io.tandem.controller.registry;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import io.tandem.controller.internal.Json;

/**
 * The node list on disk, so that a restarted proxy keeps its nodes. JSON:
 * <pre>{"version":1,"nodes":[{"url":"http://h:23333","role":2,"models":["m"],"speed":null,"source":"STATIC",
 *   "engine_config":{...},"draining":false,"sleep_level":0}]}</pre>
 * {@code draining} and {@code sleep_level} are the operator's marks (drain, sleep), kept so that a restarted proxy
 * does not put a drained or sleeping node back into rotation; files written before they existed read as neither.
 * Written whole to a temporary file then moved over the old one, so a crash never leaves half a file. A file that
 * cannot be parsed is renamed to {@code <name>.corrupt} and the registry starts empty (an unreadable state file must
 * not keep the proxy down).
 *
 * <p>Not thread-safe: used from the registry's owner thread only.
 */
public final class StateFile {
    private static final System.Logger LOG = System.getLogger(StateFile.class.getName());
    static final int VERSION = 1;

    private final Path path;

    public StateFile(Path path) {
        this.path = path;
    }

    public Path path() {
        return path;
    }

    /** One saved node: its description and the operator's marks on it. */
    public record Saved(NodeSpec spec, boolean draining, int sleepLevel) {}

    /** The nodes saved last, or none if the file does not exist or is corrupt. */
    public List<Saved> load() {
        if (!Files.exists(path)) {
            return List.of();
        }
        try {
            FileContent content = Json.MAPPER.readValue(path.toFile(), FileContent.class);
            if (content.nodes() == null) {
                return List.of();
            }
            return content.nodes().stream()
                    .map(n -> new Saved(new NodeSpec(n.url(), n.role(), n.models(), n.speed(),
                            Optional.ofNullable(n.engineConfig()), n.source() == null ? NodeSource.STATIC : n.source()),
                            Boolean.TRUE.equals(n.draining()), n.sleepLevel() == null ? 0 : n.sleepLevel()))
                    .toList();
        } catch (IOException | RuntimeException e) {
            Path aside = path.resolveSibling(path.getFileName() + ".corrupt");
            LOG.log(System.Logger.Level.WARNING, "state file " + path + " unreadable (" + e.getMessage()
                    + "); moved to " + aside + ", starting with no nodes");
            try {
                Files.move(path, aside, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException moveFailed) {
                LOG.log(System.Logger.Level.WARNING, "could not move " + path + " aside: " + moveFailed);
            }
            return List.of();
        }
    }

    /** Replaces the file's content with {@code nodes}. */
    public void save(List<Saved> nodes) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        List<PersistedNode> entries = nodes.stream()
                .map(n -> new PersistedNode(n.spec().url(), n.spec().role(), n.spec().models(), n.spec().speed(),
                        n.spec().engineConfig().orElse(null), n.spec().source(), n.draining(), n.sleepLevel()))
                .toList();
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), new FileContent(VERSION, entries));
        try {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    record FileContent(@JsonProperty("version") int version, @JsonProperty("nodes") List<PersistedNode> nodes) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.ALWAYS)
    record PersistedNode(@JsonProperty("url") String url,
                         @JsonProperty("role") EngineRole role,
                         @JsonProperty("models") List<String> models,
                         @JsonProperty("speed") Integer speed,
                         @JsonProperty("engine_config") DistServeEngineConfig engineConfig,
                         @JsonProperty("source") NodeSource source,
                         @JsonProperty("draining") Boolean draining,
                         @JsonProperty("sleep_level") Integer sleepLevel) {}
}
