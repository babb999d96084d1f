package io.tandem.engine.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * A GGUF array value: its element type and its elements. GGUF arrays carry their element type on the wire, and
 * a Java {@code int[]} could have come from any of five of them, so the type travels with the elements; this
 * is what lets {@link GgufWriter#putAll(GgufMetadata)} reproduce a file's metadata exactly.
 *
 * <p>Elements are held in one Java array whose class depends on the element type:
 * <ul>
 *   <li>{@code int[]} for {@code UINT8}, {@code INT8}, {@code UINT16}, {@code INT16}, {@code INT32};
 *   <li>{@code long[]} for {@code UINT32}, {@code INT64}, {@code UINT64} ({@code UINT64} as bit patterns);
 *   <li>{@code float[]}, {@code double[]}, {@code boolean[]}, {@code String[]} for {@code FLOAT32},
 *       {@code FLOAT64}, {@code BOOL}, {@code STRING};
 *   <li>{@code GgufArray[]} for {@code ARRAY} (nested arrays, each with its own element type).
 * </ul>
 *
 * <p>Immutable and thread-safe: the constructor copies the elements and {@link #values()} returns a copy.
 *
 * @param elementType the wire type of every element
 * @param values the elements, in the array class listed above for {@code elementType}
 */
public record GgufArray(GgufValueType elementType, Object values) {

    /**
     * @throws IllegalArgumentException if {@code values} is not the array class for {@code elementType}, holds a
     *     {@code null}, or holds an integer outside the element type's range
     */
    public GgufArray {
        Objects.requireNonNull(elementType, "elementType");
        Objects.requireNonNull(values, "values");
        values = checkedCopy(elementType, values);
    }

    public static GgufArray ofStrings(String... values) {
        return new GgufArray(GgufValueType.STRING, values);
    }

    public static GgufArray ofInt32(int... values) {
        return new GgufArray(GgufValueType.INT32, values);
    }

    public static GgufArray ofFloat32(float... values) {
        return new GgufArray(GgufValueType.FLOAT32, values);
    }

    /** A copy of the elements, in the array class that the element type maps to. */
    @Override
    public Object values() {
        return copy(values);
    }

    /** Number of elements. */
    public int length() {
        return java.lang.reflect.Array.getLength(values);
    }

    /** The elements without copying, for package code that promises not to modify them. */
    Object rawValues() {
        return values;
    }

    /**
     * The elements as {@link GgufMetadata#get} returns them: a copy, with nested arrays unwrapped into an
     * {@code Object[]} of their own element arrays.
     */
    Object toJava() {
        if (values instanceof GgufArray[] nested) {
            Object[] out = new Object[nested.length];
            for (int i = 0; i < nested.length; i++) {
                out[i] = nested[i].toJava();
            }
            return out;
        }
        return copy(values);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufArray a && a.elementType == elementType && Objects.deepEquals(a.values, values);
    }

    @Override
    public int hashCode() {
        return 31 * elementType.hashCode() + Arrays.deepHashCode(new Object[] {values});
    }

    @Override
    public String toString() {
        String elems = Arrays.deepToString(new Object[] {values});
        return "GgufArray[" + elementType + " x " + length() + ": " + elems.substring(1, elems.length() - 1) + "]";
    }

    private static Object checkedCopy(GgufValueType elementType, Object values) {
        Class<?> expected = switch (elementType) {
            case UINT8, INT8, UINT16, INT16, INT32 -> int[].class;
            case UINT32, INT64, UINT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING -> String[].class;
            case ARRAY -> GgufArray[].class;
        };
        if (values.getClass() != expected) {
            throw new IllegalArgumentException("values: " + values.getClass().getSimpleName() + " (expected: "
                    + expected.getSimpleName() + " for elements of type " + elementType + ")");
        }
        Object copy = copy(values);
        switch (copy) {
            case int[] a -> {
                for (int i = 0; i < a.length; i++) {
                    checkRange(elementType, i, a[i]);
                }
            }
            case long[] a -> {
                for (int i = 0; i < a.length; i++) {
                    checkRange(elementType, i, a[i]);
                }
            }
            case Object[] a -> {
                for (int i = 0; i < a.length; i++) {
                    if (a[i] == null) {
                        throw new IllegalArgumentException("values[" + i + "]: null (expected: non-null)");
                    }
                }
            }
            default -> { }
        }
        return copy;
    }

    private static void checkRange(GgufValueType type, int index, long v) {
        if (!GgufValue.fits(type, v)) {
            throw new IllegalArgumentException(
                    "values[" + index + "]: " + v + " (expected: in the range of " + type + ")");
        }
    }

    private static Object copy(Object values) {
        return switch (values) {
            case int[] a -> a.clone();
            case long[] a -> a.clone();
            case float[] a -> a.clone();
            case double[] a -> a.clone();
            case boolean[] a -> a.clone();
            case Object[] a -> a.clone(); // Strings and GgufArrays are immutable, so shallow is enough.
            default -> throw new IllegalArgumentException("values: " + values.getClass().getSimpleName());
        };
    }
}
