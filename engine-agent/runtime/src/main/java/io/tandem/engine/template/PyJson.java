package io.tandem.engine.template;

import java.math.BigDecimal;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * Python's {@code json.dumps} output format, which Hugging Face's {@code tojson} filter uses: {@code ", "} and
 * {@code ": "} separators without indent, {@code ","} and {@code ": "} with it, non-ASCII kept unless
 * {@code ensure_ascii}. Templates embed tool schemas with it, and models were trained on exactly these bytes,
 * so Jackson's compact output would change the prompt. Stateless; thread-safe.
 */
final class PyJson {
    private PyJson() {
    }

    static String dumps(Object value, Integer indent, boolean ensureAscii, boolean sortKeys, String itemSep,
                        String keySep) {
        String item = itemSep != null ? itemSep : indent == null ? ", " : ",";
        String key = keySep != null ? keySep : ": ";
        StringBuilder sb = new StringBuilder();
        write(sb, value, indent, 0, ensureAscii, sortKeys, item, key);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v, Integer indent, int level, boolean ascii, boolean sort,
                              String item, String key) {
        switch (v) {
            case null -> sb.append("null");
            case Boolean b -> sb.append(b ? "true" : "false");
            case Double d -> sb.append(pyFloat(d));
            case Float f -> sb.append(pyFloat(f.doubleValue()));
            case Number n -> sb.append(n);
            case CharSequence s -> string(sb, s.toString(), ascii);
            case Map<?, ?> m -> {
                Map<?, ?> map = m;
                if (sort) {
                    TreeMap<String, Object> sorted = new TreeMap<>();
                    m.forEach((k, val) -> sorted.put(String.valueOf(k), val));
                    map = sorted;
                }
                if (map.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                sb.append('{');
                Iterator<? extends Map.Entry<?, ?>> it = map.entrySet().iterator();
                while (it.hasNext()) {
                    Map.Entry<?, ?> e = it.next();
                    newline(sb, indent, level + 1);
                    string(sb, String.valueOf(e.getKey()), ascii);
                    sb.append(key);
                    write(sb, e.getValue(), indent, level + 1, ascii, sort, item, key);
                    if (it.hasNext()) sb.append(item);
                }
                newline(sb, indent, level);
                sb.append('}');
            }
            case Iterable<?> list -> {
                Iterator<?> it = list.iterator();
                if (!it.hasNext()) {
                    sb.append("[]");
                    return;
                }
                sb.append('[');
                while (it.hasNext()) {
                    newline(sb, indent, level + 1);
                    write(sb, it.next(), indent, level + 1, ascii, sort, item, key);
                    if (it.hasNext()) sb.append(item);
                }
                newline(sb, indent, level);
                sb.append(']');
            }
            case Object[] arr -> write(sb, java.util.Arrays.asList(arr), indent, level, ascii, sort, item, key);
            default -> string(sb, v.toString(), ascii);
        }
    }

    private static void newline(StringBuilder sb, Integer indent, int level) {
        if (indent != null) {
            sb.append('\n').append(" ".repeat(indent * level));
        }
    }

    /** Python's float repr: shortest round-trip digits, scientific only for exponents < -4 or >= 16. */
    static String pyFloat(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return (1 / d < 0) ? "-0.0" : "0.0";
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        int exp = bd.precision() - bd.scale() - 1;
        if (exp < -4 || exp >= 16) {
            String digits = bd.unscaledValue().abs().toString();
            String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return (d < 0 ? "-" : "") + mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
        }
        String plain = bd.toPlainString();
        return plain.contains(".") ? plain : plain + ".0";
    }

    private static void string(StringBuilder sb, String s, boolean ascii) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ascii && c > 0x7F)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
