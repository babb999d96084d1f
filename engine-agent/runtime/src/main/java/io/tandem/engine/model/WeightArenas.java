package io.tandem.engine.model;

import io.tandem.engine.kernels.Arenas;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The native memory of weight matrices that do not live in the model file's mapping: those a weight update
 * wrote. Each matrix gets its own shared {@link Arena}, so that replacing one tensor frees exactly its memory,
 * however updates interleave; the GGUF mapping is never owned here, so nothing here can unmap it.
 *
 * <p>Thread-safe: an update stages matrices on its caller's thread while the engine loop frees replaced ones;
 * the table is guarded by {@code lock}. Matrices are identified by their segment object (identity), which
 * {@link WeightMatrix} keeps as given.
 */
public final class WeightArenas {
    private final Object lock = new Object();
    // @GuardedBy("lock")
    private final Map<MemorySegment, Arena> owned = new IdentityHashMap<>();

    /** A zeroed {@code [rows, cols]} matrix of {@code type} in fresh native memory owned by this table. */
    public WeightMatrix allocate(GgmlType type, int rows, int cols) {
        long bytes = Math.multiplyExact((long) rows, type.byteSize(cols));
        Arena arena = Arena.ofShared();
        MemorySegment seg;
        try {
            seg = arena.allocate(bytes, 64);
        } catch (RuntimeException | OutOfMemoryError e) {
            arena.close();
            throw e;
        }
        synchronized (lock) {
            owned.put(seg, arena);
        }
        return WeightMatrix.of(type, rows, cols, seg);
    }

    /**
     * {@code m} (owned by this table) with the decode kernels' tiled copy ({@link WeightMatrix#withDecodeTiles}) in
     * the same arena, so that {@link #free} releases both; {@code m} itself where there is no such copy. The returned
     * matrix keeps {@code m}'s data segment, so this table recognizes it as {@code m}.
     */
    public WeightMatrix withDecodeTiles(WeightMatrix m) {
        Arena a;
        synchronized (lock) {
            a = owned.get(m.data());
        }
        if (a == null) {
            throw new IllegalArgumentException("m: a matrix this table does not own");
        }
        return m.withDecodeTiles(Arenas.borrowed(a, "free the matrix through WeightArenas"));
    }

    /** Whether {@code m}'s memory belongs to this table. */
    public boolean owns(WeightMatrix m) {
        synchronized (lock) {
            return owned.containsKey(m.data());
        }
    }

    /** Frees {@code m}'s memory if this table owns it; a matrix of the file mapping is left alone. */
    public void free(WeightMatrix m) {
        Arena a;
        synchronized (lock) {
            a = owned.remove(m.data());
        }
        if (a != null) {
            a.close();
        }
    }

    /**
     * Frees the owned matrices of {@code before} that {@code after} no longer uses; returns how many. Call it
     * once nothing reads {@code before} any more (the engine does, right after swapping).
     */
    public int freeReplaced(ModelWeights before, ModelWeights after) {
        Map<MemorySegment, Boolean> kept = new IdentityHashMap<>();
        if (after != null) {
            for (WeightMatrix m : matrices(after)) {
                kept.put(m.data(), Boolean.TRUE);
            }
        }
        int n = 0;
        for (WeightMatrix m : matrices(before)) {
            if (!kept.containsKey(m.data()) && owns(m)) {
                free(m);
                n++;
            }
        }
        return n;
    }

    /** Bytes of native memory owned now. */
    public long ownedBytes() {
        synchronized (lock) {
            long total = 0;
            for (MemorySegment s : owned.keySet()) {
                total += s.byteSize();
            }
            return total;
        }
    }

    /** Every matrix of {@code w}, the tied output counted once. */
    public static List<WeightMatrix> matrices(ModelWeights w) {
        List<WeightMatrix> all = new ArrayList<>();
        all.add(w.tokenEmbedding());
        if (w.output() != w.tokenEmbedding()) {
            all.add(w.output());
        }
        for (LayerWeights l : w.layers()) {
            all.addAll(List.of(l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()));
        }
        return all;
    }
}
