package io.tandem.engine.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Test-only reader of a GGUF file's header and metadata key/values (no tensors), so tokenizer tests can run before
 * the engine's GGUF reader exists. Arrays of numbers come back as primitive arrays, arrays of strings as
 * {@code String[]}, the way the real reader is expected to hand them to {@link TokenizerSpec#fromMetadata}.
 * To be replaced by the engine's reader.
 */
final class TestGgufMetadata {
    private TestGgufMetadata() {
    }

    /** The shared test model folder, or a skipped test if it is absent. */
    static Path sharedModel(String name) {
        String prop = System.getProperty("tandem.shared.dir");
        Path dir = prop != null ? Path.of(prop) : Path.of("../../../shared");
        Path file = dir.resolve("models").resolve(name);
        if (!Files.isRegularFile(file)) {
            file = Path.of("../../../shared/models").resolve(name);
        }
        assumeTrue(Files.isRegularFile(file), "test model " + name + " not found under " + dir.toAbsolutePath()
                + "/models (set -Dtandem.shared.dir)");
        return file;
    }

    static Map<String, Object> read(Path file) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[4];
        buf.get(magic);
        if (!"GGUF".equals(new String(magic, StandardCharsets.US_ASCII))) {
            throw new IOException(file + " is not a GGUF file");
        }
        int version = buf.getInt();
        if (version < 2) {
            throw new IOException("GGUF version " + version + " is not supported by this test reader");
        }
        buf.getLong(); // tensor count
        long kvCount = buf.getLong();
        Map<String, Object> kv = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = string(buf);
            kv.put(key, value(buf, buf.getInt()));
        }
        return kv;
    }

    private static String string(ByteBuffer buf) {
        int len = Math.toIntExact(buf.getLong());
        byte[] b = new byte[len];
        buf.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    private static Object value(ByteBuffer buf, int type) throws IOException {
        return switch (type) {
            case 0 -> buf.get() & 0xFF;
            case 1 -> (int) buf.get();
            case 2 -> buf.getShort() & 0xFFFF;
            case 3 -> (int) buf.getShort();
            case 4 -> buf.getInt() & 0xFFFFFFFFL;
            case 5 -> buf.getInt();
            case 6 -> buf.getFloat();
            case 7 -> buf.get() != 0;
            case 8 -> string(buf);
            case 9 -> array(buf);
            case 10, 11 -> buf.getLong();
            case 12 -> buf.getDouble();
            default -> throw new IOException("unknown GGUF value type " + type);
        };
    }

    private static Object array(ByteBuffer buf) throws IOException {
        int elemType = buf.getInt();
        int n = Math.toIntExact(buf.getLong());
        switch (elemType) {
            case 8 -> {
                String[] a = new String[n];
                for (int i = 0; i < n; i++) a[i] = string(buf);
                return a;
            }
            case 6 -> {
                float[] a = new float[n];
                for (int i = 0; i < n; i++) a[i] = buf.getFloat();
                return a;
            }
            case 0, 1, 2, 3, 4, 5, 7 -> {
                int[] a = new int[n];
                for (int i = 0; i < n; i++) a[i] = ((Number) asNumber(value(buf, elemType))).intValue();
                return a;
            }
            case 10, 11 -> {
                long[] a = new long[n];
                for (int i = 0; i < n; i++) a[i] = buf.getLong();
                return a;
            }
            case 12 -> {
                double[] a = new double[n];
                for (int i = 0; i < n; i++) a[i] = buf.getDouble();
                return a;
            }
            default -> {
                Object[] a = new Object[n];
                for (int i = 0; i < n; i++) a[i] = value(buf, elemType);
                return a;
            }
        }
    }

    private static Object asNumber(Object v) {
        return v instanceof Boolean b ? (b ? 1 : 0) : v;
    }
}
