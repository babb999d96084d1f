package io.tandem.controller.registry;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import io.tandem.controller.internal.Json;

/**
 * The node list on disk, so that a restarted proxy keeps its nodes. JSON:
 * <pre>{"version":1,"nodes":[{"url":"http://h:23333","role":2,"models":["m"],"speed":null,"source":"STATIC",
 *   "engine_config":{...},"draining":false,"sleep_level":0,"expected_weights":"3f9a..."}],
 *  "committed_weights":{"m":"3f9a..."}}</pre>
 * {@code draining} and {@code sleep_level} are the operator's marks (drain, sleep), kept so that a restarted proxy
 * does not put a drained or sleeping node back into rotation; files written before they existed read as neither.
 * {@code expected_weights} (per node) and {@code committed_weights} (per model) are what the last weight commits
 * left, so that a restarted proxy still fences an agent that lost pushed weights; absent: no expectation.
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

    /** One saved node: its description, the operator's marks on it and the weights expected of it. */
    public record Saved(NodeSpec spec, boolean draining, int sleepLevel, Optional<String> expectedWeights) {}

    /** What the file holds: the nodes, and per model the weights version of its last weight commit. */
    public record Content(List<Saved> nodes, Map<String, String> committedWeights) {
        static final Content EMPTY = new Content(List.of(), Map.of());
    }

    /** What was saved last, or nothing if the file does not exist or is corrupt. */
    public Content load() {
        if (!Files.exists(path)) {
            return Content.EMPTY;
        }
        try {
            FileContent content = Json.MAPPER.readValue(path.toFile(), FileContent.class);
            Map<String, String> weights = content.committedWeights() == null ? Map.of()
                    : Map.copyOf(content.committedWeights());
            if (content.nodes() == null) {
                return new Content(List.of(), weights);
            }
            return new Content(content.nodes().stream()
                    .map(n -> new Saved(new NodeSpec(n.url(), n.role(), n.models(), n.speed(),
                            Optional.ofNullable(n.engineConfig()), n.source() == null ? NodeSource.STATIC : n.source()),
                            Boolean.TRUE.equals(n.draining()), n.sleepLevel() == null ? 0 : n.sleepLevel(),
                            Optional.ofNullable(n.expectedWeights())))
                    .toList(), weights);
        } catch (IOException | RuntimeException e) {
            Path aside = path.resolveSibling(path.getFileName() + ".corrupt");
            LOG.log(System.Logger.Level.WARNING, "state file " + path + " unreadable (" + e.getMessage()
                    + "); moved to " + aside + ", starting with no nodes");
            try {
                Files.move(path, aside, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException moveFailed) {
                LOG.log(System.Logger.Level.WARNING, "could not move " + path + " aside: " + moveFailed);
            }
            return Content.EMPTY;
        }
    }

    /** Replaces the file's content. */
    public void save(List<Saved> nodes, Map<String, String> committedWeights) throws IOException {
        Path dir = path.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        List<PersistedNode> entries = nodes.stream()
                .map(n -> new PersistedNode(n.spec().url(), n.spec().role(), n.spec().models(), n.spec().speed(),
                        n.spec().engineConfig().orElse(null), n.spec().source(), n.draining(), n.sleepLevel(),
                        n.expectedWeights().orElse(null)))
                .toList();
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), new FileContent(VERSION, entries,
                committedWeights.isEmpty() ? null : new java.util.TreeMap<>(committedWeights)));
        try {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record FileContent(@JsonProperty("version") int version, @JsonProperty("nodes") List<PersistedNode> nodes,
                       @JsonProperty("committed_weights") Map<String, String> committedWeights) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    @JsonInclude(JsonInclude.Include.ALWAYS)
    record PersistedNode(@JsonProperty("url") String url,
                         @JsonProperty("role") EngineRole role,
                         @JsonProperty("models") List<String> models,
                         @JsonProperty("speed") Integer speed,
                         @JsonProperty("engine_config") DistServeEngineConfig engineConfig,
                         @JsonProperty("source") NodeSource source,
                         @JsonProperty("draining") Boolean draining,
                         @JsonProperty("sleep_level") Integer sleepLevel,
                         @JsonInclude(JsonInclude.Include.NON_NULL)
                         @JsonProperty("expected_weights") String expectedWeights) {}
}
