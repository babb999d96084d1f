package io.tandem.engine.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Arena helpers. */
public final class Arenas {
    private Arenas() {
    }

    /**
     * A view of {@code owner} that allocates from it and shares its scope but may not be closed: for handing out
     * memory whose lifetime is someone else's (a file's mapping, a weight-update arena). {@code close()} throws
     * {@link UnsupportedOperationException} with {@code howToFree}.
     */
    public static Arena borrowed(Arena owner, String howToFree) {
        return new Arena() {
            @Override
            public MemorySegment allocate(long byteSize, long byteAlignment) {
                return owner.allocate(byteSize, byteAlignment);
            }

            @Override
            public MemorySegment.Scope scope() {
                return owner.scope();
            }

            @Override
            public void close() {
                throw new UnsupportedOperationException(howToFree);
            }
        };
    }
}
