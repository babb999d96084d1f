package io.tandem.engine.template;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Rewrites Jinja2 template source so Jinjava parses it with Python's meaning. Only code inside {@code {{ }}} and
 * {@code {% %}} is touched; text, comments and {@code raw} blocks are copied as they are.
 * <ul>
 *   <li>Prefix {@code not} binds looser than comparisons and tests in Jinja2 ({@code not x is defined} is
 *       {@code not (x is defined)}, {@code not a in b} is {@code not (a in b)}) but tighter in Jinjava, so its
 *       operand is parenthesised up to the next {@code and}/{@code or}/{@code if}/{@code else}, comma or closing
 *       bracket.</li>
 *   <li>Keyword arguments ({@code namespace(i=messages|length - 1)}) bind looser than arithmetic in Jinja2 but
 *       not in Jinjava, so their values are parenthesised.</li>
 *   <li>{@code seq[::-1]} (no step slicing in Jinjava) becomes {@code seq|reverse}.</li>
 *   <li>{@code lstrip_blocks} is applied here rather than by Jinjava, which also strips the whitespace before a
 *       tag that follows text on the same line (Jinja2 only strips when the tag starts the line).</li>
 *   <li>Hugging Face's {@code {% generation %}} markers (assistant-mask training aids) are dropped.</li>
 * </ul>
 * Stateless; thread-safe.
 */
final class TemplatePreprocessor {

    private static final Pattern GENERATION_TAG = Pattern.compile("\\{%[-+]?\\s*(?:end)?generation\\s*[-+]?%}");
    private static final Set<String> NOT_SCOPE_ENDS = Set.of("and", "or", "if", "else");

    private TemplatePreprocessor() {
    }

    static String prepare(String template) {
        String s = GENERATION_TAG.matcher(template).replaceAll("");
        StringBuilder out = new StringBuilder(s.length() + 64);
        int i = 0;
        int n = s.length();
        while (i < n) {
            int open = nextOpen(s, i);
            if (open < 0) {
                out.append(s, i, n);
                break;
            }
            out.append(s, i, open);
            char kind = s.charAt(open + 1);
            if (kind != '{') {
                // lstrip_blocks, done here because Jinjava also strips before tags that follow text on their line.
                char modifier = open + 2 < n ? s.charAt(open + 2) : 0;
                if (modifier == '+') {
                    s = s.substring(0, open + 2) + s.substring(open + 3); // Jinja2's "keep" marker; Jinjava lacks it
                    n = s.length();
                } else if (modifier != '-') {
                    lstrip(out);
                }
            }
            if (kind == '#') {
                int end = s.indexOf("#}", open + 2);
                end = end < 0 ? n : end + 2;
                out.append(s, open, end);
                i = end;
                continue;
            }
            String close = kind == '{' ? "}}" : "%}";
            int end = findClose(s, open + 2, close);
            if (end < 0) { // unterminated: let Jinjava report it
                out.append(s, open, n);
                break;
            }
            String code = s.substring(open + 2, end);
            if (kind == '%' && code.strip().replaceFirst("^[-+]\\s*", "").startsWith("raw")) {
                int endRaw = findEndRaw(s, end + 2);
                out.append(s, open, endRaw);
                i = endRaw;
                continue;
            }
            out.append(s, open, open + 2).append(rewrite(code, kind == '%')).append(close);
            i = end + 2;
        }
        return out.toString();
    }

    /** Removes spaces and tabs between the last line start and the end of {@code out}, if nothing else is there. */
    private static void lstrip(StringBuilder out) {
        int k = out.length();
        while (k > 0 && (out.charAt(k - 1) == ' ' || out.charAt(k - 1) == '\t')) k--;
        if (k == 0 || out.charAt(k - 1) == '\n') {
            out.setLength(k);
        }
    }

    private static int nextOpen(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /** The index of {@code close} ending a code region, skipping string literals. */
    private static int findClose(String s, int from, String close) {
        char quote = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') i++;
                else if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (s.startsWith(close, i)) {
                return i;
            }
        }
        return -1;
    }

    private static int findEndRaw(String s, int from) {
        var m = Pattern.compile("\\{%[-+]?\\s*endraw\\s*[-+]?%}").matcher(s);
        return m.find(from) ? m.end() : s.length();
    }

    private record Token(String text, char kind) { // kind: 'n' name, 's' string, 'w' space, 'o' operator/other
    }

    private static List<Token> tokenize(String code) {
        List<Token> out = new ArrayList<>();
        int i = 0;
        int n = code.length();
        while (i < n) {
            char c = code.charAt(i);
            int j = i + 1;
            char kind;
            if (c == '\'' || c == '"') {
                while (j < n && code.charAt(j) != c) {
                    if (code.charAt(j) == '\\') j++;
                    j++;
                }
                j = Math.min(j + 1, n);
                kind = 's';
            } else if (Character.isWhitespace(c)) {
                while (j < n && Character.isWhitespace(code.charAt(j))) j++;
                kind = 'w';
            } else if (Character.isLetterOrDigit(c) || c == '_') {
                while (j < n && (Character.isLetterOrDigit(code.charAt(j)) || code.charAt(j) == '_')) j++;
                kind = 'n';
            } else {
                if (j < n && "=!<>*/".indexOf(c) >= 0 && (code.charAt(j) == '=' || (c == '*' && code.charAt(j) == '*')
                        || (c == '/' && code.charAt(j) == '/'))) {
                    j++;
                }
                kind = 'o';
            }
            out.add(new Token(code.substring(i, j), kind));
            i = j;
        }
        return out;
    }

    /** Per bracket nesting level: how many prefix-nots await a ')' and whether a keyword argument is open. */
    private static final class Frame {
        final String open;
        int pendingNots;
        boolean kwarg;

        Frame(String open) {
            this.open = open;
        }
    }

    static String rewrite(String code, boolean statement) {
        // Whitespace-control markers belong to the delimiters, not the expression.
        int lead = code.startsWith("-") || code.startsWith("+") ? 1 : 0;
        int trail = code.length() > lead && (code.endsWith("-") || code.endsWith("+")) ? 1 : 0;
        String body = code.substring(lead, code.length() - trail);
        List<Token> toks = tokenize(body);
        String tag = null;
        if (statement) {
            for (Token t : toks) {
                if (t.kind != 'w') {
                    tag = t.text;
                    break;
                }
            }
        }
        boolean signature = "macro".equals(tag) || "call".equals(tag); // defaults there are not kwargs
        StringBuilder out = new StringBuilder(body.length() + 16);
        Deque<Frame> frames = new ArrayDeque<>();
        frames.push(new Frame(""));
        Token prev = null; // previous significant token
        for (int i = 0; i < toks.size(); i++) {
            Token t = toks.get(i);
            if (t.kind == 'w') {
                out.append(t.text);
                continue;
            }
            String x = t.text;
            if (x.equals("[") && matchesReverseSlice(toks, i)) {
                out.append("|reverse");
                i = skipReverseSlice(toks, i);
                prev = new Token("]", 'o');
                continue;
            }
            boolean boundary = (t.kind == 'n' && NOT_SCOPE_ENDS.contains(x)) || x.equals(",")
                    || x.equals(")") || x.equals("]") || x.equals("}");
            Frame top = frames.peek();
            if (boundary) {
                closeNots(out, top);
            }
            if (x.equals(",") && top.kwarg) {
                out.append(')');
                top.kwarg = false;
            }
            if ((x.equals(")") || x.equals("]") || x.equals("}")) && frames.size() > 1) {
                if (top.kwarg) out.append(')');
                frames.pop();
            }
            out.append(x);
            if (x.equals("(") || x.equals("[") || x.equals("{")) {
                frames.push(new Frame(x));
            } else if (t.kind == 'n' && x.equals("not") && isPrefixPosition(prev)) {
                out.append(" (");
                frames.peek().pendingNots++;
            } else if (x.equals("=") && !signature && prev != null && prev.kind == 'n'
                    && frames.peek().open.equals("(") && isArgumentStart(toks, i)) {
                out.append('(');
                frames.peek().kwarg = true;
            }
            prev = t;
        }
        while (!frames.isEmpty()) {
            Frame f = frames.pop();
            closeNots(out, f);
            if (f.kwarg) out.append(')');
        }
        return code.substring(0, lead) + out + code.substring(code.length() - trail);
    }

    private static void closeNots(StringBuilder out, Frame f) {
        for (; f.pendingNots > 0; f.pendingNots--) out.append(')');
    }

    /** A prefix {@code not}: at the start, after an operator or bracket, or after a keyword — not {@code is not}. */
    private static boolean isPrefixPosition(Token prev) {
        if (prev == null) return true;
        if (prev.kind == 's') return false;
        if (prev.kind == 'n') {
            return Set.of("and", "or", "not", "if", "elif", "else", "in", "return", "set", "do").contains(prev.text)
                    && !prev.text.equals("is");
        }
        return !(prev.text.equals(")") || prev.text.equals("]") || prev.text.equals("}"));
    }

    /** The name before {@code toks[eq]} follows '(' or ',' — i.e. it is a keyword argument. */
    private static boolean isArgumentStart(List<Token> toks, int eq) {
        int k = eq - 1;
        while (k >= 0 && toks.get(k).kind == 'w') k--;
        k--; // the name
        while (k >= 0 && toks.get(k).kind == 'w') k--;
        return k >= 0 && (toks.get(k).text.equals("(") || toks.get(k).text.equals(","));
    }

    private static boolean matchesReverseSlice(List<Token> toks, int i) {
        return skipReverseSlice(toks, i) > i;
    }

    /** Index of the ']' of "[ : : - 1 ]" starting at i, or i if it is not one. */
    private static int skipReverseSlice(List<Token> toks, int i) {
        String[] want = {":", ":", "-", "1", "]"};
        int k = i + 1;
        for (String w : want) {
            while (k < toks.size() && toks.get(k).kind == 'w') k++;
            if (k >= toks.size() || !toks.get(k).text.equals(w)) return i;
            k++;
        }
        return k - 1;
    }
}
