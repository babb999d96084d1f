package io.tandem.engine.gguf;

import io.tandem.engine.errors.GgufFormatException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;
import java.util.SequencedSet;

/**
 * The key/value metadata of a GGUF file, in file order, with each value's wire type.
 *
 * <p><b>Raw values.</b> {@link #get} returns {@code String}, {@code Boolean}, {@code Integer} (for {@code UINT8},
 * {@code INT8}, {@code UINT16}, {@code INT16}, {@code INT32}), {@code Long} ({@code UINT32}, {@code INT64},
 * {@code UINT64}), {@code Float} or {@code Double}; arrays come back as {@code int[]}, {@code long[]},
 * {@code float[]}, {@code double[]}, {@code boolean[]} or {@code String[]} by the same mapping, and nested
 * arrays as an {@code Object[]} of those. A {@code UINT64} is returned as its bit pattern, so values of 2^63 and
 * above are negative. {@link #valueType} and {@link #getArray} give the exact wire types.
 *
 * <p><b>Typed getters</b> are what model loaders should use: converters write the same key with different
 * integer widths ({@code UINT32} in one file, {@code INT32} or {@code UINT64} in another), so
 * {@link #getInt}/{@link #getLong} accept any integer type whose value fits, and {@link #getFloat}/
 * {@link #getDouble} any numeric type. A missing key, a non-numeric value where a number is asked for, or a
 * value that does not fit throws {@link GgufFormatException} naming the source file, the key, and the actual
 * type. The overloads taking a default return it only when the key is absent; a present key of the wrong type
 * still throws, because that is a broken file rather than an optional setting.
 *
 * <p>Immutable and thread-safe; every array handed out is a copy.
 */
public final class GgufMetadata {
    static final String ARCHITECTURE = "general.architecture";
    static final String ALIGNMENT = "general.alignment";

    private final String source;
    private final SequencedMap<String, GgufValue> entries;

    /** @param source the file the metadata came from, used only to prefix error messages */
    GgufMetadata(String source, LinkedHashMap<String, GgufValue> entries) {
        this.source = Objects.requireNonNull(source, "source");
        this.entries = Collections.unmodifiableSequencedMap(new LinkedHashMap<>(entries));
    }

    /** The keys in file order. */
    public SequencedSet<String> keys() {
        return entries.sequencedKeySet();
    }

    public int size() {
        return entries.size();
    }

    public boolean contains(String key) {
        return entries.containsKey(key);
    }

    /** The wire type of {@code key}'s value. */
    public GgufValueType valueType(String key) {
        return entry(key).type();
    }

    /** The raw value of {@code key} in the representation described in the class comment (arrays copied). */
    public Object get(String key) {
        return toJava(entry(key).value());
    }

    /** The {@code ARRAY} value of {@code key} with its element type. */
    public GgufArray getArray(String key) {
        GgufValue v = entry(key);
        if (!(v.value() instanceof GgufArray a)) {
            throw mismatch(key, v, "an ARRAY");
        }
        return a;
    }

    /** All entries as raw values (see {@link #get}), in file order; unmodifiable. */
    public Map<String, Object> asMap() {
        LinkedHashMap<String, Object> out = new LinkedHashMap<>();
        entries.forEach((k, v) -> out.put(k, toJava(v.value())));
        return Collections.unmodifiableMap(out);
    }

    /** {@code general.architecture}, e.g. {@code "llama"}; the prefix of the model's hyper-parameter keys. */
    public String architecture() {
        return getString(ARCHITECTURE);
    }

    public String getString(String key) {
        GgufValue v = entry(key);
        if (!(v.value() instanceof String s)) {
            throw mismatch(key, v, "a STRING");
        }
        return s;
    }

    public String getString(String key, String defaultValue) {
        return contains(key) ? getString(key) : defaultValue;
    }

    public boolean getBoolean(String key) {
        GgufValue v = entry(key);
        if (!(v.value() instanceof Boolean b)) {
            throw mismatch(key, v, "a BOOL");
        }
        return b;
    }

    public boolean getBoolean(String key, boolean defaultValue) {
        return contains(key) ? getBoolean(key) : defaultValue;
    }

    /** Any integer type whose value fits in an {@code int}. */
    public int getInt(String key) {
        GgufValue v = entry(key);
        long x = integer(key, v);
        if (x != (int) x) {
            throw outOfRange(key, v, x, "an int");
        }
        return (int) x;
    }

    public int getInt(String key, int defaultValue) {
        return contains(key) ? getInt(key) : defaultValue;
    }

    /** Any integer type whose value fits in a {@code long} (a {@code UINT64} below 2^63). */
    public long getLong(String key) {
        return integer(key, entry(key));
    }

    public long getLong(String key, long defaultValue) {
        return contains(key) ? getLong(key) : defaultValue;
    }

    /** Any numeric type, rounded to the nearest {@code float}. */
    public float getFloat(String key) {
        return (float) getDouble(key);
    }

    public float getFloat(String key, float defaultValue) {
        return contains(key) ? getFloat(key) : defaultValue;
    }

    /** Any numeric type. */
    public double getDouble(String key) {
        GgufValue v = entry(key);
        return switch (v.value()) {
            case Float f -> f;
            case Double d -> d;
            default -> integer(key, v);
        };
    }

    public double getDouble(String key, double defaultValue) {
        return contains(key) ? getDouble(key) : defaultValue;
    }

    /** An {@code ARRAY} of {@code STRING}. */
    public String[] getStringArray(String key) {
        GgufValue v = entry(key);
        if (!(v.value() instanceof GgufArray a) || !(a.rawValues() instanceof String[] s)) {
            throw mismatch(key, v, "an ARRAY of STRING");
        }
        return s.clone();
    }

    public String[] getStringArray(String key, String[] defaultValue) {
        return contains(key) ? getStringArray(key) : defaultValue;
    }

    /** An {@code ARRAY} of any integer type whose elements all fit in an {@code int}. */
    public int[] getIntArray(String key) {
        GgufValue v = entry(key);
        if (v.value() instanceof GgufArray a) {
            if (a.rawValues() instanceof int[] ints) {
                return ints.clone();
            }
            if (a.rawValues() instanceof long[] longs) {
                int[] out = new int[longs.length];
                for (int i = 0; i < longs.length; i++) {
                    if (longs[i] != (int) longs[i]) {
                        throw outOfRange(key + "[" + i + "]", v, longs[i], "an int");
                    }
                    out[i] = (int) longs[i];
                }
                return out;
            }
        }
        throw mismatch(key, v, "an ARRAY of an integer type");
    }

    public int[] getIntArray(String key, int[] defaultValue) {
        return contains(key) ? getIntArray(key) : defaultValue;
    }

    /** An {@code ARRAY} of any numeric type, each element rounded to the nearest {@code float}. */
    public float[] getFloatArray(String key) {
        GgufValue v = entry(key);
        if (v.value() instanceof GgufArray a) {
            switch (a.rawValues()) {
                case float[] f -> {
                    return f.clone();
                }
                case double[] d -> {
                    float[] out = new float[d.length];
                    for (int i = 0; i < d.length; i++) {
                        out[i] = (float) d[i];
                    }
                    return out;
                }
                case int[] ints -> {
                    float[] out = new float[ints.length];
                    for (int i = 0; i < ints.length; i++) {
                        out[i] = ints[i];
                    }
                    return out;
                }
                case long[] longs -> {
                    float[] out = new float[longs.length];
                    for (int i = 0; i < longs.length; i++) {
                        out[i] = a.elementType() == GgufValueType.UINT64
                                ? Float.parseFloat(Long.toUnsignedString(longs[i]))
                                : longs[i];
                    }
                    return out;
                }
                default -> { }
            }
        }
        throw mismatch(key, v, "an ARRAY of a numeric type");
    }

    public float[] getFloatArray(String key, float[] defaultValue) {
        return contains(key) ? getFloatArray(key) : defaultValue;
    }

    @Override
    public String toString() {
        return "GgufMetadata[" + source + ", " + entries.size() + " keys]";
    }

    private GgufValue entry(String key) {
        Objects.requireNonNull(key, "key");
        GgufValue v = entries.get(key);
        if (v == null) {
            throw new GgufFormatException(source + ": metadata key '" + key + "' is missing");
        }
        return v;
    }

    private long integer(String key, GgufValue v) {
        if (!v.type().isInteger()) {
            throw mismatch(key, v, "an integer");
        }
        long x = ((Number) v.value()).longValue();
        if (v.type() == GgufValueType.UINT64 && x < 0) {
            throw new GgufFormatException(source + ": metadata key '" + key + "' value "
                    + Long.toUnsignedString(x) + " (UINT64) does not fit in a long");
        }
        return x;
    }

    private GgufFormatException mismatch(String key, GgufValue v, String expected) {
        return new GgufFormatException(
                source + ": metadata key '" + key + "' is " + v.describe() + ", expected " + expected);
    }

    private GgufFormatException outOfRange(String key, GgufValue v, long x, String target) {
        String shown = v.type() == GgufValueType.UINT64
                || (v.value() instanceof GgufArray a && a.elementType() == GgufValueType.UINT64)
                ? Long.toUnsignedString(x) : Long.toString(x);
        return new GgufFormatException(
                source + ": metadata key '" + key + "' value " + shown + " (" + v.describe() + ") does not fit in " + target);
    }

    private static Object toJava(Object value) {
        return value instanceof GgufArray a ? a.toJava() : value;
    }
}
