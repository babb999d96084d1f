package io.tandem.engine.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Native memory for data that the decode kernels stream, backed by transparent huge pages where the OS allows it.
 *
 * <p>Why: a streaming kernel that does real work per cache line (the Q8_0 decode) leaves the hardware prefetcher to
 * keep misses in flight, and with 4 KiB pages each page is a TLB miss and a fresh prefetch stream. On the bench machine
 * (Linux, THP in {@code madvise} mode) the tiled Q8_0 decode streams markedly faster from 2 MiB pages, and no faster
 * than the GGML layout from 4 KiB ones; see {@link Q8Tiles}. The JVM maps no huge pages for off-heap memory by itself, so this maps anonymous memory with
 * {@code mmap} and asks for huge pages with {@code madvise(MADV_HUGEPAGE)} before the first touch.
 *
 * <p>Where that is unavailable (not Linux/x86-64 or aarch64, a libc without the symbols, native access denied) it falls
 * back to an ordinary allocation from the owner arena; if the kernel declines huge pages the mapping is simply backed
 * by normal pages. Either way the memory is freed with the owner arena.
 *
 * <p>Thread-safe (stateless after class initialization).
 */
public final class HugePages {
    private HugePages() {
    }

    private static final long HUGE = 2L << 20;
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int MADV_HUGEPAGE = 14;
    private static final int MADV_DONTNEED = 4;
    /** The smallest page size madvise works in (x86-64 and aarch64 with 4 KiB pages; larger pages only shrink it). */
    private static final long PAGE = 4096;

    private static final MethodHandle MMAP;
    private static final MethodHandle MADVISE;
    private static final MethodHandle MUNMAP;

    static {
        MethodHandle mmap = null;
        MethodHandle madvise = null;
        MethodHandle munmap = null;
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "");
        if (os.startsWith("Linux") && (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
            try {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
            } catch (RuntimeException e) {
                mmap = null;
            }
        }
        MMAP = mmap;
        MADVISE = madvise;
        MUNMAP = munmap;
    }

    /**
     * {@code bytes} of zeroed native memory, 2 MiB-aligned and huge-page backed where possible (at least 64-byte
     * aligned otherwise), freed when {@code owner} closes (or, for an automatic arena, once unreachable).
     */
    public static MemorySegment allocate(long bytes, Arena owner) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes: " + bytes + " (expected: > 0)");
        }
        if (owner instanceof Slab slab) {
            return slab.allocate(bytes, 64);
        }
        if (MMAP != null) {
            try {
                MemorySegment mapped = map(bytes, owner);
                if (mapped != null) {
                    return mapped;
                }
            } catch (Throwable e) {
                // fall through to the plain allocation
            }
        }
        return owner.allocate(bytes, 64);
    }

    /**
     * Drops the whole pages inside {@code readOnlyFileMapping} from this process's resident set
     * ({@code madvise(MADV_DONTNEED)}): they stay in the page cache, reclaimable, and a later read maps them back from
     * there or from the file. Only for read-only file mappings (on anonymous memory it would discard the contents).
     * Returns whether the kernel accepted it; a no-op returning false where {@code madvise} is not available.
     */
    public static boolean dropResidentFilePages(MemorySegment readOnlyFileMapping) {
        if (MADVISE == null || !readOnlyFileMapping.isNative() || !readOnlyFileMapping.isReadOnly()) {
            return false;
        }
        long start = (readOnlyFileMapping.address() + PAGE - 1) / PAGE * PAGE;
        long end = (readOnlyFileMapping.address() + readOnlyFileMapping.byteSize()) / PAGE * PAGE;
        if (end <= start) {
            return false;
        }
        try {
            return (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), end - start, MADV_DONTNEED) == 0;
        } catch (Throwable e) {
            return false;
        }
    }

    private static MemorySegment map(long bytes, Arena owner) throws Throwable {
        // Over-allocate by one huge page so that the usable range can start on a 2 MiB boundary.
        long length = (bytes + 2 * HUGE - 1) / HUGE * HUGE;
        MemorySegment p = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, length, PROT_READ_WRITE,
                MAP_PRIVATE_ANONYMOUS, -1, 0L);
        if (p.address() == -1L || p.address() == 0L) {
            return null;
        }
        long start = (p.address() + HUGE - 1) / HUGE * HUGE;
        // The return code is ignored on purpose: without THP the mapping is still valid, just with small pages.
        int ignored = (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), length - (start - p.address()),
                MADV_HUGEPAGE);
        long base = p.address();
        try {
            return MemorySegment.ofAddress(start).reinterpret(bytes, owner, s -> unmap(base, length));
        } catch (RuntimeException e) { // owner already closed
            unmap(base, length);
            throw e;
        }
    }

    /** Chunk size of a {@link Slab}: large enough that the part of the last chunk left unused is small. */
    private static final long SLAB_CHUNK = 32L << 20;

    /**
     * An arena that hands out 64-byte-aligned slices of shared huge-page chunks, so that many small allocations (a
     * model's matrices) do not each occupy a 2 MiB page of their own; the chunks are freed with {@code owner}.
     * Allocation is synchronized; {@link #close()} is not supported (close the owner).
     */
    static final class Slab implements Arena {
        private final Arena owner;
        private MemorySegment chunk; // guarded by this
        private long used; // guarded by this

        Slab(Arena owner) {
            this.owner = owner;
        }

        @Override
        public synchronized MemorySegment allocate(long byteSize, long byteAlignment) {
            if (byteSize <= 0 || byteAlignment <= 0 || byteAlignment > 64 || Long.bitCount(byteAlignment) != 1) {
                throw new IllegalArgumentException("byteSize: " + byteSize + ", byteAlignment: " + byteAlignment
                        + " (expected: positive size, alignment a power of two <= 64)");
            }
            long start = (used + 63) & ~63L;
            if (chunk == null || start + byteSize > chunk.byteSize()) {
                long size = Math.max(SLAB_CHUNK, (byteSize + HUGE - 1) / HUGE * HUGE);
                chunk = HugePages.allocate(size, owner);
                start = 0;
            }
            used = start + byteSize;
            return chunk.asSlice(start, byteSize);
        }

        @Override
        public MemorySegment.Scope scope() {
            return owner.scope();
        }

        @Override
        public void close() {
            throw new UnsupportedOperationException("close the owner arena");
        }
    }

    private static void unmap(long base, long length) {
        try {
            int ignored = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(base), length);
        } catch (Throwable e) {
            // nothing sensible to do in a cleaner
        }
    }
}
