package io.tandem.engine.gguf;

import java.util.Objects;

/**
 * One metadata value with its wire type, in the canonical Java representation that {@link GgufMetadata#get}
 * documents: {@code Integer} for the integer types up to 32 bits signed, {@code Long} for {@code UINT32},
 * {@code INT64} and {@code UINT64} (the latter as its bit pattern), {@code Float}, {@code Double},
 * {@code Boolean}, {@code String}, and {@link GgufArray} for arrays.
 *
 * <p>Both the reader and the writer build values only through {@link #of}, so a value that exists is always
 * representable on the wire: a {@code UINT8} holding 300 cannot be constructed.
 */
record GgufValue(GgufValueType type, Object value) {

    GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
    }

    /**
     * Checks that {@code value} can be written as {@code type} and converts it to the canonical representation.
     * Integer types take any of {@code Byte}, {@code Short}, {@code Integer} or {@code Long} in range;
     * {@code FLOAT64} also takes a {@code Float}; {@code ARRAY} takes only a {@link GgufArray}, because a plain
     * Java array does not say which element type to write.
     *
     * @throws IllegalArgumentException if the value's class or range does not fit the type
     */
    static GgufValue of(GgufValueType type, Object value) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        Object canonical = switch (type) {
            case UINT8, INT8, UINT16, INT16, INT32 -> (int) integer(type, value);
            case UINT32, INT64, UINT64 -> integer(type, value);
            case FLOAT32 -> {
                if (!(value instanceof Float f)) {
                    throw mismatch(type, value, "a Float");
                }
                yield f;
            }
            case FLOAT64 -> {
                if (!(value instanceof Double) && !(value instanceof Float)) {
                    throw mismatch(type, value, "a Double or Float");
                }
                yield ((Number) value).doubleValue();
            }
            case BOOL -> {
                if (!(value instanceof Boolean b)) {
                    throw mismatch(type, value, "a Boolean");
                }
                yield b;
            }
            case STRING -> {
                if (!(value instanceof String s)) {
                    throw mismatch(type, value, "a String");
                }
                yield s;
            }
            case ARRAY -> {
                if (!(value instanceof GgufArray a)) {
                    throw mismatch(type, value, "a GgufArray");
                }
                yield a;
            }
        };
        return new GgufValue(type, canonical);
    }

    /** Whether {@code v} is in the range of integer type {@code type}; {@code UINT64} takes any bit pattern. */
    static boolean fits(GgufValueType type, long v) {
        return switch (type) {
            case UINT8 -> v >= 0 && v <= 0xFF;
            case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
            case UINT16 -> v >= 0 && v <= 0xFFFF;
            case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
            case UINT32 -> v >= 0 && v <= 0xFFFF_FFFFL;
            case INT32 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
            case INT64, UINT64 -> true;
            default -> throw new IllegalArgumentException("type: " + type + " (expected: an integer type)");
        };
    }

    private static long integer(GgufValueType type, Object value) {
        if (!(value instanceof Long) && !(value instanceof Integer) && !(value instanceof Short)
                && !(value instanceof Byte)) {
            throw mismatch(type, value, "a Byte, Short, Integer or Long");
        }
        long v = ((Number) value).longValue();
        if (!fits(type, v)) {
            throw new IllegalArgumentException("value: " + v + " (expected: in the range of " + type + ")");
        }
        return v;
    }

    private static IllegalArgumentException mismatch(GgufValueType type, Object value, String expected) {
        return new IllegalArgumentException(
                "value: " + value.getClass().getSimpleName() + " (expected: " + expected + " for " + type + ")");
    }

    /** "UINT32", or "ARRAY of STRING", for error messages. */
    String describe() {
        return value instanceof GgufArray a ? "ARRAY of " + a.elementType() : type.toString();
    }
}
