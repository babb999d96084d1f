package io.tandem.engine.gguf;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.Objects;

/**
 * Produces one tensor's bytes when {@link GgufWriter#write} reaches it, so that a writer of a large model never
 * holds more than one tensor (or less, if the source streams) in memory.
 *
 * <p>An implementation must write exactly {@code type.byteSize(elementCount)} bytes, in ggml layout and
 * little-endian, and may be called once per {@code write}; the writer fails the write if the count differs.
 */
@FunctionalInterface
public interface TensorSource {

    void writeTo(WritableByteChannel out) throws IOException;

    /** A source that copies {@code data}, read at write time, so it must stay valid and unchanged until then. */
    static TensorSource of(MemorySegment data) {
        Objects.requireNonNull(data, "data");
        return out -> {
            // Bounded chunks: asByteBuffer() cannot view more than 2 GiB, nor a heap segment over anything but a
            // byte[] (e.g. a float[] of weights), so heap data is copied through one small byte[] instead.
            final int chunk = 1 << 20;
            byte[] staging = data.isNative() ? null : new byte[(int) Math.min(chunk, data.byteSize())];
            for (long off = 0; off < data.byteSize(); off += chunk) {
                int n = (int) Math.min(chunk, data.byteSize() - off);
                ByteBuffer buf;
                if (staging == null) {
                    buf = data.asSlice(off, n).asByteBuffer();
                } else {
                    MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off, staging, 0, n);
                    buf = ByteBuffer.wrap(staging, 0, n);
                }
                while (buf.hasRemaining()) {
                    out.write(buf);
                }
            }
        };
    }
}
