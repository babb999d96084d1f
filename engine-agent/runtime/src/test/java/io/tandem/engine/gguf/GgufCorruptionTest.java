package io.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import io.tandem.engine.errors.GgufFormatException;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken files must fail at open with a {@link GgufFormatException} that says which file and what is wrong. */
class GgufCorruptionTest {
    private static final int F32 = GgmlType.F32.id();

    @TempDir
    Path dir;

    /** A valid file with every value type and tensors whose data ends exactly at end of file (no padding). */
    private byte[] validFile() throws IOException {
        GgufWriter w = new GgufWriter();
        GgufRoundTripTest.everyValueType().forEach((k, v) -> w.put(k, v.type(), v.value()));
        w.addTensor("a", GgmlType.Q8_0, new long[] {32, 2}, new byte[68]);
        w.addTensor("b", GgmlType.F32, new long[] {8}, new byte[32]);
        Path path = dir.resolve("valid.gguf");
        w.write(path);
        byte[] bytes = Files.readAllBytes(path);
        try (GgufFile file = GgufFile.open(path)) {
            assertThat(file.dataOffset() + 96 + 32).isEqualTo(bytes.length);
        }
        return bytes;
    }

    @Test
    void truncatedAtEveryPosition_failsWithFormatExceptionNamingTheFile() throws IOException {
        byte[] valid = validFile();
        Path path = dir.resolve("cut.gguf");
        for (int length = 0; length < valid.length; length++) {
            Files.write(path, Arrays.copyOf(valid, length));
            int cut = length;
            assertThatThrownBy(() -> GgufFile.open(path).close())
                    .as("cut at %d of %d", cut, valid.length)
                    .isExactlyInstanceOf(GgufFormatException.class)
                    .hasMessageStartingWith(path + ": ");
        }
    }

    @Test
    void randomByteCorruption_neverFailsWithAnythingButFormatException() throws IOException {
        byte[] valid = validFile();
        Path path = dir.resolve("fuzz.gguf");
        Random random = new Random(1234);
        int headerEnd = valid.length - 128; // the tensor data itself is not validated
        for (int i = 0; i < 3000; i++) {
            byte[] bytes = valid.clone();
            for (int flips = 1 + random.nextInt(3); flips > 0; flips--) {
                bytes[random.nextInt(headerEnd)] = (byte) random.nextInt(256);
            }
            Files.write(path, bytes);
            try (GgufFile file = GgufFile.open(path)) {
                assertThat(file.tensors()).hasSizeLessThanOrEqualTo(2);
            } catch (GgufFormatException e) {
                assertThat(e.getMessage()).startsWith(path + ": ");
            } catch (RuntimeException | Error e) {
                fail("iteration " + i + ": " + e, e);
            }
        }
    }

    @Test
    void badMagic() throws IOException {
        byte[] bytes = validFile();
        bytes[0] = 'J';
        assertOpenFails(Files.write(dir.resolve("magic.gguf"), bytes))
                .hasMessageEndingWith("bad magic 0x4a475546 (expected \"GGUF\")");
    }

    @Test
    void unsupportedVersion_andBigEndian() throws IOException {
        byte[] bytes = validFile();
        bytes[4] = 7;
        assertOpenFails(Files.write(dir.resolve("v7.gguf"), bytes)).hasMessageEndingWith("unsupported version 7 (supported: 2, 3)");
        bytes[4] = 0;
        bytes[7] = 3;
        assertOpenFails(Files.write(dir.resolve("be.gguf"), bytes)).hasMessageContaining("big-endian GGUF");
    }

    @Test
    void unsupportedTensorType_namesTensorAndId() throws IOException {
        Path path = RawGguf.header(1, 0).tensorInfo("blk.0.attn_q.weight", new long[] {32}, 19, 0)
                .padTo(32).zeros(128).writeTo(dir, "type.gguf");
        assertOpenFails(path).hasMessageStartingWith(path + ": tensor 'blk.0.attn_q.weight': unsupported tensor type id 19 (supported: F32=0, F16=1,");
    }

    @Test
    void tensorOffsetPastEndOfFile_namesTensor() throws IOException {
        RawGguf raw = RawGguf.header(1, 0).tensorInfo("blk.0.attn_q.weight", new long[] {1024}, F32, 1024).padTo(32);
        int dataStart = raw.size();
        Path path = raw.zeros(2000).writeTo(dir, "range.gguf");
        assertOpenFails(path).hasMessage(path + ": tensor 'blk.0.attn_q.weight': data [offset 1024, 4096 bytes] "
                + "runs past end of file (size " + (dataStart + 2000) + ", data section starts at " + dataStart + ")");
        Path huge = RawGguf.header(1, 0).tensorInfo("t", new long[] {8}, F32, -32).padTo(32).zeros(64)
                .writeTo(dir, "huge.gguf");
        assertOpenFails(huge).hasMessageContaining("tensor 't': data [offset 18446744073709551584, 32 bytes] runs past end");
    }

    @Test
    void hugeLengthsAndCounts_failWithoutAllocating() throws IOException {
        assertOpenFails(RawGguf.header(0, 1).u64(Long.MAX_VALUE).zeros(64).writeTo(dir, "keylen.gguf"))
                .hasMessageContaining("truncated while reading metadata key #0: string length 9223372036854775807");
        assertOpenFails(RawGguf.header(0, 1).str("k").u32(8).u64(-1).zeros(64).writeTo(dir, "strlen.gguf"))
                .hasMessageContaining("metadata key 'k'").hasMessageContaining("string length 18446744073709551615");
        assertOpenFails(RawGguf.header(0, 1).str("k").u32(9).u32(4).u64(1L << 40).zeros(64).writeTo(dir, "count.gguf"))
                .hasMessageContaining("metadata key 'k'").hasMessageContaining("array count 1099511627776");
        assertOpenFails(RawGguf.header(0, Long.MAX_VALUE).writeTo(dir, "kvs.gguf"))
                .hasMessageContaining("metadata_kv_count 9223372036854775807");
        assertOpenFails(RawGguf.header(1L << 50, 0).writeTo(dir, "tensors.gguf"))
                .hasMessageContaining("tensor_count 1125899906842624");
    }

    @Test
    void metadataProblems() throws IOException {
        assertOpenFails(RawGguf.header(0, 1).str("k").u32(13).writeTo(dir, "vtype.gguf"))
                .hasMessageEndingWith(": metadata key 'k': unknown value type id 13");
        assertOpenFails(RawGguf.header(0, 2).kvUInt32("k", 1).kvUInt32("k", 2).writeTo(dir, "dupkey.gguf"))
                .hasMessageEndingWith(": metadata key 'k': duplicate key");
        assertOpenFails(RawGguf.header(0, 1).str("k").u32(7).u8(2).writeTo(dir, "bool.gguf"))
                .hasMessageEndingWith(": metadata key 'k': bool value 2 (expected: 0 or 1)");
        RawGguf deep = RawGguf.header(0, 1).str("k").u32(9);
        for (int i = 0; i < 100; i++) {
            deep.u32(9).u64(1);
        }
        assertOpenFails(deep.zeros(64).writeTo(dir, "deep.gguf")).hasMessageContaining("nested deeper than");
    }

    @Test
    void alignmentNotAPowerOfTwo() throws IOException {
        assertOpenFails(RawGguf.header(0, 1).kvUInt32("general.alignment", 48).writeTo(dir, "align.gguf"))
                .hasMessageEndingWith(": general.alignment: 48 (expected: a power of two)");
        assertOpenFails(RawGguf.header(0, 1).kvUInt32("general.alignment", 0).writeTo(dir, "align0.gguf"))
                .hasMessageContaining("general.alignment: 0");
        assertOpenFails(RawGguf.header(0, 1).kvString("general.alignment", "32").writeTo(dir, "aligns.gguf"))
                .hasMessageContaining("'general.alignment' is STRING, expected an integer");
    }

    @Test
    void badShapes() throws IOException {
        assertOpenFails(tensors("zero.gguf", new long[] {8, 0}, F32, 0))
                .hasMessageEndingWith(": tensor 't': dimension 1 is 0 (expected: > 0)");
        assertOpenFails(tensors("neg.gguf", new long[] {-1L}, F32, 0))
                .hasMessageEndingWith(": tensor 't': dimension 0 is 18446744073709551615 (expected: > 0)");
        assertOpenFails(tensors("five.gguf", new long[] {1, 1, 1, 1, 1}, F32, 0))
                .hasMessageEndingWith(": tensor 't': n_dims 5 (expected: 1..4)");
        assertOpenFails(tensors("nodims.gguf", new long[0], F32, 0))
                .hasMessageEndingWith(": tensor 't': n_dims 0 (expected: 1..4)");
        assertOpenFails(tensors("block.gguf", new long[] {16, 2}, GgmlType.Q4_0.id(), 0))
                .hasMessageContaining("tensor 't': row length 16 is not a multiple of Q4_0's block size 32");
        assertOpenFails(tensors("overflow.gguf", new long[] {1L << 40, 1L << 40}, F32, 0))
                .hasMessageContaining("tensor 't': element count").hasMessageContaining("overflows");
    }

    @Test
    void duplicateNames_overlapsAndMisalignedOffsets() throws IOException {
        Path dup = RawGguf.header(2, 0).tensorInfo("t", new long[] {8}, F32, 0).tensorInfo("t", new long[] {8}, F32, 32)
                .padTo(32).zeros(64).writeTo(dir, "dup.gguf");
        assertOpenFails(dup).hasMessageEndingWith(": tensor 't': duplicate tensor name");
        Path overlap = RawGguf.header(2, 0).tensorInfo("a", new long[] {16}, F32, 0)
                .tensorInfo("b", new long[] {8}, F32, 32).padTo(32).zeros(128).writeTo(dir, "overlap.gguf");
        assertOpenFails(overlap).hasMessageEndingWith(
                ": tensor 'b': data [offset 32, 32 bytes] overlaps tensor 'a' [offset 0, 64 bytes]");
        assertOpenFails(tensors("misaligned.gguf", new long[] {8}, F32, 4))
                .hasMessageEndingWith(": tensor 't': data [offset 4, 32 bytes] is not aligned to 32 bytes");
    }

    private Path tensors(String name, long[] shape, int typeId, long offset) throws IOException {
        return RawGguf.header(1, 0).tensorInfo("t", shape, typeId, offset).padTo(32).zeros(256).writeTo(dir, name);
    }

    private static AbstractThrowableAssert<?, ? extends Throwable> assertOpenFails(Path path) {
        return assertThatThrownBy(() -> GgufFile.open(path).close())
                .isExactlyInstanceOf(GgufFormatException.class)
                .hasMessageStartingWith(path + ": ");
    }
}
