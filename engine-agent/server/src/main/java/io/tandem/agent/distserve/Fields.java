package io.tandem.agent.distserve;

import com.fasterxml.jackson.databind.JsonNode;
import io.tandem.agent.errors.BadParameterException;

/**
 * Strict readers of JSON fields for the cluster-facing bodies: a number must be an integral number in range, a
 * string a string; nothing is coerced ("3" is not 3, 1.5 is not 1). Every failure is a 400 naming the field by
 * its dotted path.
 */
final class Fields {
    private Fields() {
    }

    static JsonNode object(JsonNode parent, String name, String path, boolean required) {
        JsonNode v = parent == null ? null : parent.get(name);
        if (v == null || v.isNull()) {
            if (required) {
                throw new BadParameterException(path + ": required (an object)", path);
            }
            return null;
        }
        if (!v.isObject()) {
            throw new BadParameterException(path + ": expected an object, got " + v.getNodeType(), path);
        }
        return v;
    }

    static String string(JsonNode parent, String name, String path, int maxLength) {
        JsonNode v = parent.get(name);
        if (v == null || v.isNull()) {
            throw new BadParameterException(path + ": required (a string)", path);
        }
        if (!v.isTextual()) {
            throw new BadParameterException(path + ": expected a string, got " + v.getNodeType(), path);
        }
        String s = v.asText();
        if (s.isBlank() || s.length() > maxLength) {
            throw new BadParameterException(path + ": " + s.length() + " characters (expected: 1.." + maxLength + ")",
                    path);
        }
        return s;
    }

    /** An optional integer in [min, max]; {@code dflt} when absent or null. */
    static long integer(JsonNode parent, String name, String path, long min, long max, Long dflt) {
        JsonNode v = parent.get(name);
        if (v == null || v.isNull()) {
            if (dflt == null) {
                throw new BadParameterException(path + ": required (an integer)", path);
            }
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new BadParameterException(path + ": expected an integer, got " + abbreviate(v), path);
        }
        long x = v.asLong();
        if (x < min || x > max) {
            throw new BadParameterException(path + ": " + x + " (expected: " + min + ".." + max + ")", path);
        }
        return x;
    }

    static int integer(JsonNode parent, String name, String path, int min, int max) {
        return (int) integer(parent, name, path, min, max, null);
    }

    static boolean bool(JsonNode parent, String name, String path, boolean dflt) {
        JsonNode v = parent.get(name);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new BadParameterException(path + ": expected a boolean, got " + abbreviate(v), path);
        }
        return v.asBoolean();
    }

    /** A list of integers in [0, max), at most {@code maxCount} of them, no duplicates. */
    static int[] ids(JsonNode parent, String name, String path, int max, int maxCount) {
        JsonNode v = parent.get(name);
        if (v == null || v.isNull()) {
            throw new BadParameterException(path + ": required (a list of block ids)", path);
        }
        if (!v.isArray()) {
            throw new BadParameterException(path + ": expected a list of integers, got " + v.getNodeType(), path);
        }
        if (v.size() > maxCount) {
            throw new BadParameterException(path + ": " + v.size() + " ids (expected: at most " + maxCount + ")", path);
        }
        int[] out = new int[v.size()];
        java.util.BitSet seen = new java.util.BitSet();
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt() || e.asInt() < 0 || e.asInt() >= max) {
                throw new BadParameterException(path + "[" + i + "]: " + abbreviate(e) + " (expected: an integer in 0.."
                        + (max - 1) + ")", path);
            }
            out[i] = e.asInt();
            if (seen.get(out[i])) {
                throw new BadParameterException(path + "[" + i + "]: block " + out[i] + " listed twice", path);
            }
            seen.set(out[i]);
        }
        return out;
    }

    static String abbreviate(JsonNode v) {
        String s = v.toString();
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
