package io.tandem.engine.gguf;

import io.tandem.engine.errors.GgufFormatException;
import io.tandem.engine.kernels.Arenas;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A GGUF (v3, or v2) model file, memory-mapped read-only.
 *
 * <p><b>Layout.</b> A GGUF file is a little-endian header ({@code "GGUF"}, version, tensor count, metadata count),
 * the metadata key/values, one info per tensor (name, shape in ggml order, type id, offset), and then the data
 * section, which starts at the next multiple of {@code general.alignment} (default 32) and holds each tensor's
 * bytes at its offset.
 *
 * <p><b>Memory.</b> {@link #open} maps the whole file with a shared {@link Arena} and every
 * {@link GgufTensor#data()} is a slice of that mapping, so weights are never copied onto the Java heap: the
 * page cache backs them, and several engines mapping the same file share physical memory. The metadata, which
 * is small, is parsed into heap objects up front.
 *
 * <p><b>Validation.</b> Everything that later code would trust is checked at open: magic, version, every count
 * and length against the bytes left, value and tensor type ids, shapes (1 to 4 dimensions, each {@code > 0},
 * rows of whole blocks), unique tensor names, and that each tensor's data is aligned, inside the file, and
 * overlaps no other. Any failure is a {@link GgufFormatException} naming the file, the tensor or key, and the
 * problem.
 *
 * <p><b>Thread safety.</b> Immutable after {@code open}; tensors may be read from any thread. {@link #close()}
 * unmaps the file: every segment obtained from this file becomes invalid and accessing it throws
 * {@link IllegalStateException}, so close only once no thread still uses the tensors.
 */
public final class GgufFile implements AutoCloseable {
    private final Path path;
    private final int version;
    private final GgufMetadata metadata;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> byName;
    private final long alignment;
    private final long dataOffset;
    private final Arena arena;
    private final AtomicBoolean closed = new AtomicBoolean();

    private GgufFile(Path path, GgufParser.Result parsed, Arena arena) {
        this.path = path;
        this.version = parsed.version();
        this.metadata = parsed.metadata();
        this.tensors = parsed.tensors();
        this.alignment = parsed.alignment();
        this.dataOffset = parsed.dataOffset();
        this.arena = arena;
        Map<String, GgufTensor> names = new LinkedHashMap<>();
        for (GgufTensor t : tensors) {
            names.put(t.name(), t);
        }
        this.byName = Map.copyOf(names);
    }

    /**
     * Maps and parses {@code path}.
     *
     * @throws GgufFormatException if the file is not a valid GGUF v2/v3 file
     * @throws IOException if the file cannot be opened or mapped
     */
    public static GgufFile open(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            // The mapping outlives the channel; it lives until the arena is closed.
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            GgufParser.Result parsed = new GgufParser(path.toString(), mapping).parse();
            return new GgufFile(path, parsed, arena);
        } catch (Throwable t) {
            arena.close();
            throw t;
        }
    }

    public Path path() {
        return path;
    }

    /** The GGUF version in the header: 2 or 3. */
    public int version() {
        return version;
    }

    public GgufMetadata metadata() {
        return metadata;
    }

    /** All tensors in file order. */
    public List<GgufTensor> tensors() {
        return tensors;
    }

    /**
     * The tensor named {@code name}.
     *
     * @throws GgufFormatException naming the file and the tensor if there is none; a model loader asking for a
     *     tensor its architecture requires has found a broken file
     */
    public GgufTensor tensor(String name) {
        return findTensor(name).orElseThrow(() -> new GgufFormatException(
                path + ": tensor '" + name + "' not found (file has " + tensors.size() + " tensors)"));
    }

    public Optional<GgufTensor> findTensor(String name) {
        return Optional.ofNullable(byName.get(Objects.requireNonNull(name, "name")));
    }

    /** The alignment of tensor data: {@code general.alignment}, or 32. */
    public long alignment() {
        return alignment;
    }

    /** The file position at which the data section, and so tensor offset 0, starts. */
    public long dataOffset() {
        return dataOffset;
    }

    /**
     * An arena with the mapping's lifetime, for memory derived from this file's tensors (such as the decode kernels'
     * repacked weights) that must be freed when the file is unmapped. Allocating from it is allowed; closing it is not
     * (close the file instead).
     */
    public Arena lifetime() {
        return Arenas.borrowed(arena, "close the GgufFile, not its lifetime arena");
    }

    /** False once {@link #close()} has unmapped the file. */
    public boolean isOpen() {
        return !closed.get();
    }

    /**
     * Unmaps the file. Every {@link GgufTensor#data()} of this file becomes invalid: accessing it afterwards
     * throws {@link IllegalStateException}. Idempotent.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size()
                + " tensors]";
    }
}
