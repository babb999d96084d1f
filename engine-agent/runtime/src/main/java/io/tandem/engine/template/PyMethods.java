package io.tandem.engine.template;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python {@code str} (and a few {@code dict}) methods for Jinjava, which otherwise exposes Java's: templates call
 * {@code content.startswith('<tool_response>')}, {@code .split('</think>')[-1].lstrip('\n')}, {@code .title()},
 * {@code message.get('content', '')}. Java's own same-named methods differ ({@code split} takes a regex and
 * drops trailing empties; {@code strip} takes no characters), so this resolver sits before Jinjava's bean
 * resolver and answers with Python semantics. Only method invocation is handled; property access falls through.
 * Stateless; thread-safe.
 */
final class PyMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(method instanceof String name)) {
            return null;
        }
        Object[] args = params == null ? new Object[0] : params;
        Object result;
        if (base instanceof String s) {
            result = stringMethod(s, name, args);
        } else if (base instanceof Map<?, ?> m && name.equals("get") && args.length == 2) {
            result = m.containsKey(key(args[0])) ? m.get(key(args[0])) : args[1];
        } else {
            return null;
        }
        if (result == NOT_HANDLED) {
            return null;
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static Object key(Object k) {
        return k == null ? null : k.toString();
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object stringMethod(String s, String name, Object[] a) {
        return switch (name) {
            case "strip" -> rstrip(lstrip(s, chars(a)), chars(a));
            case "lstrip" -> lstrip(s, chars(a));
            case "rstrip" -> rstrip(s, chars(a));
            case "startswith" -> affix(s, arg(a, 0), true);
            case "endswith" -> affix(s, arg(a, 0), false);
            case "split" -> split(s, a.length > 0 ? a[0] : null, a.length > 1 ? ((Number) a[1]).intValue() : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "replace" -> replace(s, str(arg(a, 0)), str(arg(a, 1)), a.length > 2 ? ((Number) a[2]).intValue() : -1);
            case "find" -> s.indexOf(str(arg(a, 0)));
            case "count" -> count(s, str(arg(a, 0)));
            case "join" -> join(s, arg(a, 0));
            case "removeprefix" -> s.startsWith(str(arg(a, 0))) ? s.substring(str(arg(a, 0)).length()) : s;
            case "removesuffix" -> s.endsWith(str(arg(a, 0))) && !str(arg(a, 0)).isEmpty()
                    ? s.substring(0, s.length() - str(arg(a, 0)).length()) : s;
            case "isspace" -> !s.isEmpty() && s.codePoints().allMatch(PyMethods::isSpace);
            case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isupper" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower" -> s.chars().anyMatch(Character::isLetter) && s.equals(s.toLowerCase(Locale.ROOT));
            default -> NOT_HANDLED;
        };
    }

    private static Object arg(Object[] a, int i) {
        if (i >= a.length) {
            throw new IllegalArgumentException("string method needs argument " + (i + 1) + " of " + a.length);
        }
        return a[i];
    }

    private static String str(Object o) {
        return o == null ? "None" : o.toString();
    }

    /** The characters to strip, or null for Python's default (whitespace). */
    private static String chars(Object[] a) {
        return a.length == 0 || a[0] == null ? null : a[0].toString();
    }

    private static boolean isSpace(int cp) {
        // Python's str.isspace: Unicode whitespace plus the ASCII separators 0x1C..0x1F.
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85;
    }

    private static boolean strippable(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(cp) >= 0;
    }

    static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && strippable(s.codePointAt(i), chars)) i += Character.charCount(s.codePointAt(i));
        return s.substring(i);
    }

    static String rstrip(String s, String chars) {
        int e = s.length();
        while (e > 0 && strippable(s.codePointBefore(e), chars)) e -= Character.charCount(s.codePointBefore(e));
        return s.substring(0, e);
    }

    private static boolean affix(String s, Object what, boolean prefix) {
        if (what instanceof Iterable<?> options) { // a tuple of prefixes
            for (Object o : options) {
                if (affix(s, o, prefix)) return true;
            }
            return false;
        }
        String t = str(what);
        return prefix ? s.startsWith(t) : s.endsWith(t);
    }

    static List<String> split(String s, Object sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) {
            // Python: runs of whitespace separate, leading/trailing whitespace yields no empty strings.
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isSpace(s.charAt(i))) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(rstrip(s.substring(i), null));
                    break;
                }
                int j = i;
                while (j < n && !isSpace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        String d = sep.toString();
        if (d.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        int at;
        while ((maxsplit < 0 || out.size() < maxsplit) && (at = s.indexOf(d, from)) >= 0) {
            out.add(s.substring(from, at));
            from = at + d.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            boolean letter = Character.isLetter(cp);
            sb.appendCodePoint(letter ? (prevCased ? Character.toLowerCase(cp) : Character.toTitleCase(cp)) : cp);
            prevCased = letter;
            i += Character.charCount(cp);
        }
        return sb.toString();
    }

    private static String replace(String s, String old, String with, int count) {
        if (count < 0) return s.replace(old, with);
        StringBuilder sb = new StringBuilder();
        int from = 0;
        int at;
        int done = 0;
        while (done < count && !old.isEmpty() && (at = s.indexOf(old, from)) >= 0) {
            sb.append(s, from, at).append(with);
            from = at + old.length();
            done++;
        }
        return sb.append(s.substring(from)).toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        int c = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) c++;
        return c;
    }

    private static String join(String sep, Object items) {
        List<String> parts = new ArrayList<>();
        if (items instanceof Iterable<?> it) {
            for (Object o : it) parts.add(str(o));
        } else {
            parts.add(str(items));
        }
        return String.join(sep, parts);
    }

    // Property access is left to the other resolvers.

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
