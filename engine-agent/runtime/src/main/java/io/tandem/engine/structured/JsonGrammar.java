package io.tandem.engine.structured;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

/**
 * A byte-level pushdown automaton for JSON values constrained by a compiled schema.
 *
 * <h2>Design</h2>
 * A schema compiles into immutable {@link Node}s. Matching keeps a stack of immutable {@link Frame}s (one per open
 * value: object, array, string, number, literal) as a persistent linked list, so that a state is shared, never
 * copied: feeding a byte returns new states and leaves the old one intact, which lets the mask walk a token trie
 * depth-first and branch at every node for the price of one small allocation per byte. {@code anyOf}/{@code oneOf}
 * fork the state into one stack per alternative ({@link #feed} returns a set of stacks); dead ones drop out.
 *
 * <p>Output format: no whitespace before or after the top-level value; between tokens inside containers either
 * nothing, one space, or a newline followed by at most {@value #MAX_INDENT} spaces/tabs (llama.cpp's JSON grammar
 * rule), so whitespace cannot run on forever. Numbers have at most {@value #MAX_INT_DIGITS} integer digits,
 * {@value #MAX_FRACTION_DIGITS} fraction digits and {@value #MAX_EXPONENT_DIGITS} exponent digits. Strings are
 * checked as UTF-8 (lead and continuation bytes) and JSON escapes; lengths count code points.
 *
 * <p>Immutable and thread-safe.
 */
final class JsonGrammar {
    static final int MAX_INDENT = 20;
    static final int MAX_INT_DIGITS = 15;
    static final int MAX_FRACTION_DIGITS = 15;
    static final int MAX_EXPONENT_DIGITS = 3;
    /** Open values at once; deeper nesting is refused (keeps "any value" from nesting forever). */
    static final int MAX_DEPTH = 32;
    /** Alternatives followed at once; more are dropped (anyOf of near-identical schemas). */
    static final int MAX_STACKS = 32;

    private JsonGrammar() {
    }

    // ================================================================== nodes (compiled schema)

    /** A compiled schema: makes the frames that match a value of it. */
    abstract static class Node {
        /** The frames that may match a value starting now (several for unions). */
        abstract void start(List<Frame> out);
    }

    /** Any JSON value. */
    static final class AnyNode extends Node {
        static final AnyNode INSTANCE = new AnyNode();
        static final ObjectNode ANY_OBJECT = new ObjectNode(new String[0], new Node[0], 0L, INSTANCE);
        static final ArrayNode ANY_ARRAY = new ArrayNode(INSTANCE, 0, Integer.MAX_VALUE);
        static final StringNode ANY_STRING = new StringNode(0, Integer.MAX_VALUE);
        static final NumberNode ANY_NUMBER = new NumberNode(false, null, false, null, false);
        static final LiteralNode KEYWORDS = LiteralNode.of(List.of("true", "false", "null"));

        @Override
        void start(List<Frame> out) {
            // The first byte decides the type; the frames that cannot take it fail at once.
            ANY_OBJECT.start(out);
            ANY_ARRAY.start(out);
            ANY_STRING.start(out);
            ANY_NUMBER.start(out);
            KEYWORDS.start(out);
        }
    }

    /**
     * An object. Declared properties may come in any order, each at most once; {@code required} ones must all be
     * there before {@code '}'}. {@code additional} is the schema of other members, or null when none are allowed.
     */
    static final class ObjectNode extends Node {
        final String[] names;
        final Node[] schemas;
        final long required;
        final Node additional;
        /** {@code "name"} of each property as JSON, sorted, and the property index of each. */
        final byte[][] sortedKeys;
        final int[] sortedKeyIds;

        ObjectNode(String[] names, Node[] schemas, long required, Node additional) {
            if (names.length > 64) {
                throw new IllegalArgumentException("properties: " + names.length + " (expected: at most 64)");
            }
            this.names = names;
            this.schemas = schemas;
            this.required = required;
            this.additional = additional;
            Integer[] order = new Integer[names.length];
            byte[][] keys = new byte[names.length][];
            for (int i = 0; i < names.length; i++) {
                order[i] = i;
                keys[i] = LiteralNode.jsonString(names[i]).getBytes(StandardCharsets.UTF_8);
            }
            Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(keys[a], keys[b]));
            this.sortedKeys = new byte[names.length][];
            this.sortedKeyIds = new int[names.length];
            for (int i = 0; i < names.length; i++) {
                sortedKeys[i] = keys[order[i]];
                sortedKeyIds[i] = order[i];
            }
        }

        int indexOf(String name) {
            for (int i = 0; i < names.length; i++) {
                if (names[i].equals(name)) {
                    return i;
                }
            }
            return -1;
        }

        @Override
        void start(List<Frame> out) {
            out.add(new ObjectFrame(this, ObjectFrame.OPEN, 0, 0L, 0, -1));
        }
    }

    static final class ArrayNode extends Node {
        final Node items;
        final int minItems;
        final int maxItems;

        ArrayNode(Node items, int minItems, int maxItems) {
            this.items = items;
            this.minItems = minItems;
            this.maxItems = maxItems;
        }

        @Override
        void start(List<Frame> out) {
            out.add(new ArrayFrame(this, ArrayFrame.OPEN, 0, 0));
        }
    }

    static final class StringNode extends Node {
        final int minLength;
        final int maxLength;

        StringNode(int minLength, int maxLength) {
            this.minLength = minLength;
            this.maxLength = maxLength;
        }

        @Override
        void start(List<Frame> out) {
            out.add(new StringFrame(this, StringFrame.OPEN, 0, 0, null));
        }
    }

    /** A number; bounds are null when absent. Integer bounds prune digit by digit, others apply at the end. */
    static final class NumberNode extends Node {
        final boolean integer;
        final BigDecimal min;
        final boolean exclusiveMin;
        final BigDecimal max;
        final boolean exclusiveMax;

        NumberNode(boolean integer, BigDecimal min, boolean exclusiveMin, BigDecimal max, boolean exclusiveMax) {
            this.integer = integer;
            this.min = min;
            this.exclusiveMin = exclusiveMin;
            this.max = max;
            this.exclusiveMax = exclusiveMax;
        }

        boolean bounded() {
            return min != null || max != null;
        }

        boolean inRange(BigDecimal v) {
            if (min != null) {
                int c = v.compareTo(min);
                if (c < 0 || (c == 0 && exclusiveMin)) {
                    return false;
                }
            }
            if (max != null) {
                int c = v.compareTo(max);
                return c < 0 || (c == 0 && !exclusiveMax);
            }
            return true;
        }

        /** Whether some value in {@code [lo, hi]} (or {@code [lo, hi)} when {@code hiOpen}) is in range. */
        boolean intersects(BigDecimal lo, BigDecimal hi, boolean hiOpen) {
            if (min != null) {
                int c = hi.compareTo(min);
                if (c < 0 || (c == 0 && (exclusiveMin || hiOpen))) {
                    return false;
                }
            }
            if (max != null) {
                int c = lo.compareTo(max);
                return c < 0 || (c == 0 && !exclusiveMax);
            }
            return true;
        }

        @Override
        void start(List<Frame> out) {
            out.add(new NumberFrame(this, NumberFrame.START, 0, ""));
        }
    }

    /** One of a fixed set of JSON texts: {@code true}/{@code false}/{@code null}, enum and const values. */
    static final class LiteralNode extends Node {
        final byte[][] sorted;

        private LiteralNode(byte[][] sorted) {
            this.sorted = sorted;
        }

        /** The texts given (already serialized JSON), sorted bytewise; duplicates removed. */
        static LiteralNode of(List<String> jsonTexts) {
            byte[][] v = jsonTexts.stream().distinct().map(s -> s.getBytes(StandardCharsets.UTF_8))
                    .sorted(Arrays::compareUnsigned).toArray(byte[][]::new);
            if (v.length == 0) {
                throw new IllegalArgumentException("literals: none");
            }
            return new LiteralNode(v);
        }

        static String jsonString(String s) {
            StringBuilder b = new StringBuilder("\"");
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> b.append("\\\"");
                    case '\\' -> b.append("\\\\");
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    case '\b' -> b.append("\\b");
                    case '\f' -> b.append("\\f");
                    default -> {
                        if (c < 0x20) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                    }
                }
            }
            return b.append('"').toString();
        }

        @Override
        void start(List<Frame> out) {
            out.add(new LiteralFrame(sorted, null, 0, sorted.length, 0));
        }
    }

    static final class UnionNode extends Node {
        final Node[] alternatives;

        UnionNode(Node[] alternatives) {
            this.alternatives = alternatives;
        }

        @Override
        void start(List<Frame> out) {
            for (Node n : alternatives) {
                n.start(out);
            }
        }
    }

    /** A {@code $ref}, resolved on first use so that recursive schemas compile. */
    static final class RefNode extends Node {
        private final Supplier<Node> target;

        RefNode(Supplier<Node> target) {
            this.target = target;
        }

        @Override
        void start(List<Frame> out) {
            target.get().start(out);
        }
    }

    // ================================================================== frames (matching state)

    /** Sentinels returned by {@link Frame#feed}. */
    static final Frame FAIL = new Sentinel();
    static final Frame POP = new Sentinel();

    /**
     * One open value. {@link #feed} returns the frame after consuming the byte, {@link #FAIL}, {@link #POP} (this
     * value ended just before the byte, which goes to the parent), or a {@link Push} (the byte starts a child).
     */
    abstract static class Frame {
        abstract Frame feed(int b);

        /** Complete, and no byte can follow inside it: popped at once. */
        boolean closed() {
            return false;
        }

        /** May the output end here (only scalars that need no closing byte). */
        boolean canEndAtEof() {
            return false;
        }

        /** This frame after its child ended; {@link #FAIL} to refuse the child's value. */
        Frame childDone(Frame child) {
            return this;
        }
    }

    private static final class Sentinel extends Frame {
        @Override
        Frame feed(int b) {
            throw new IllegalStateException("sentinel");
        }
    }

    /** The parent continues as {@code self} once a value of {@code child} (which starts with the byte) is done. */
    static final class Push extends Frame {
        final Frame self;
        final Node child;

        Push(Frame self, Node child) {
            this.self = self;
            this.child = child;
        }

        @Override
        Frame feed(int b) {
            throw new IllegalStateException("push");
        }
    }

    /** The bottom of every stack: one value, then nothing. */
    static final class RootFrame extends Frame {
        final Node value;
        final boolean done;

        RootFrame(Node value, boolean done) {
            this.value = value;
            this.done = done;
        }

        @Override
        Frame feed(int b) {
            return done ? FAIL : new Push(new RootFrame(value, true), value);
        }

        @Override
        boolean closed() {
            return done;
        }

        @Override
        boolean canEndAtEof() {
            return done;
        }
    }

    /**
     * Whitespace between tokens: {@code ws} is 0 (none yet), 1 (one space: no more), or 2 + n (a newline and n
     * indent characters). Returns the new count, or -1 if {@code b} is not allowed whitespace here.
     */
    static int whitespace(int ws, int b) {
        if (ws == 0) {
            return b == ' ' ? 1 : b == '\n' ? 2 : -1;
        }
        if (ws >= 2 && ws < 2 + MAX_INDENT && (b == ' ' || b == '\t')) {
            return ws + 1;
        }
        return -1;
    }

    static boolean isWhitespace(int b) {
        return b == ' ' || b == '\n' || b == '\t' || b == '\r';
    }

    static final class ObjectFrame extends Frame {
        static final int OPEN = 0;          // expects '{'
        static final int FIRST = 1;         // after '{': a key or '}'
        static final int KEY = 2;           // a key string is being read (pushed)
        static final int COLON = 3;         // after a key: ':'
        static final int VALUE = 4;         // after ':': a value
        static final int AFTER_VALUE = 5;   // ',' or '}'
        static final int NEXT_KEY = 6;      // after ',': a key
        static final int CLOSED = 7;

        final ObjectNode node;
        final int state;
        final int ws;
        final long used;
        final int members;
        final int current; // property of the value being read: index, or -1 for an additional property

        ObjectFrame(ObjectNode node, int state, int ws, long used, int members, int current) {
            this.node = node;
            this.state = state;
            this.ws = ws;
            this.used = used;
            this.members = members;
            this.current = current;
        }

        private ObjectFrame with(int newState, int newWs) {
            return new ObjectFrame(node, newState, newWs, used, members, current);
        }

        private boolean moreKeysPossible() {
            return node.additional != null || Long.bitCount(used) < node.names.length;
        }

        @Override
        Frame feed(int b) {
            switch (state) {
                case OPEN:
                    return b == '{' ? with(FIRST, 0) : FAIL;
                case FIRST:
                case NEXT_KEY:
                    if (b == '"') {
                        if (!moreKeysPossible()) {
                            return FAIL;
                        }
                        return new Push(with(KEY, 0), keyNode());
                    }
                    if (b == '}' && state == FIRST) {
                        return (node.required & ~used) == 0 ? with(CLOSED, 0) : FAIL;
                    }
                    return space(b);
                case COLON:
                    return b == ':' ? with(VALUE, 0) : space(b);
                case VALUE:
                    if (isWhitespace(b)) {
                        return space(b);
                    }
                    Node schema = current >= 0 ? node.schemas[current] : node.additional;
                    return new Push(with(AFTER_VALUE, 0), schema);
                case AFTER_VALUE:
                    if (b == ',') {
                        return moreKeysPossible() ? with(NEXT_KEY, 0) : FAIL;
                    }
                    if (b == '}') {
                        return (node.required & ~used) == 0 ? with(CLOSED, 0) : FAIL;
                    }
                    return space(b);
                default:
                    return FAIL;
            }
        }

        private Frame space(int b) {
            int w = whitespace(ws, b);
            return w < 0 ? FAIL : with(state, w);
        }

        /** The key's matcher: the unused declared names, or any string when other members are allowed. */
        private Node keyNode() {
            if (node.additional != null) {
                return KeyCapture.INSTANCE;
            }
            int n = node.names.length - Long.bitCount(used);
            byte[][] keys = new byte[n][];
            int[] ids = new int[n];
            int j = 0;
            for (int i = 0; i < node.sortedKeys.length; i++) {
                if ((used & (1L << node.sortedKeyIds[i])) == 0) {
                    keys[j] = node.sortedKeys[i];
                    ids[j++] = node.sortedKeyIds[i];
                }
            }
            return new KeyChoice(keys, ids);
        }

        @Override
        Frame childDone(Frame child) {
            if (state != KEY) {
                return this; // a value ended; AFTER_VALUE was set when it started
            }
            int prop;
            if (child instanceof LiteralFrame l) {
                prop = l.ids[l.lo];
            } else {
                // Captured bytes are held one per char; decode them as the UTF-8 they are.
                String raw = ((StringFrame) child).captured;
                prop = node.indexOf(new String(raw.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8));
                if (prop >= 0 && (used & (1L << prop)) != 0) {
                    return FAIL; // a declared property twice
                }
            }
            long u = prop >= 0 ? used | (1L << prop) : used;
            return new ObjectFrame(node, COLON, 0, u, members + 1, prop);
        }

        @Override
        boolean closed() {
            return state == CLOSED;
        }
    }

    /** The remaining declared keys of an object without additional properties. */
    private static final class KeyChoice extends Node {
        final byte[][] keys;
        final int[] ids;

        KeyChoice(byte[][] keys, int[] ids) {
            this.keys = keys;
            this.ids = ids;
        }

        @Override
        void start(List<Frame> out) {
            out.add(new LiteralFrame(keys, ids, 0, keys.length, 0));
        }
    }

    /** Any key, remembered so the object can find its property. */
    private static final class KeyCapture extends Node {
        static final KeyCapture INSTANCE = new KeyCapture();

        @Override
        void start(List<Frame> out) {
            out.add(new StringFrame(AnyNode.ANY_STRING, StringFrame.OPEN, 0, 0, ""));
        }
    }

    static final class ArrayFrame extends Frame {
        static final int OPEN = 0;
        static final int FIRST = 1;       // after '[': an item or ']'
        static final int AFTER_ITEM = 2;  // ',' or ']'
        static final int NEXT = 3;        // after ',': an item
        static final int CLOSED = 4;

        final ArrayNode node;
        final int state;
        final int ws;
        final int count;

        ArrayFrame(ArrayNode node, int state, int ws, int count) {
            this.node = node;
            this.state = state;
            this.ws = ws;
            this.count = count;
        }

        @Override
        Frame feed(int b) {
            switch (state) {
                case OPEN:
                    return b == '[' ? new ArrayFrame(node, FIRST, 0, 0) : FAIL;
                case FIRST:
                case NEXT:
                    if (isWhitespace(b)) {
                        return space(b);
                    }
                    if (b == ']' && state == FIRST) {
                        return node.minItems == 0 ? new ArrayFrame(node, CLOSED, 0, 0) : FAIL;
                    }
                    if (count >= node.maxItems) {
                        return FAIL;
                    }
                    return new Push(new ArrayFrame(node, AFTER_ITEM, 0, count + 1), node.items);
                case AFTER_ITEM:
                    if (b == ',') {
                        return count < node.maxItems ? new ArrayFrame(node, NEXT, 0, count) : FAIL;
                    }
                    if (b == ']') {
                        return count >= node.minItems ? new ArrayFrame(node, CLOSED, 0, count) : FAIL;
                    }
                    return space(b);
                default:
                    return FAIL;
            }
        }

        private Frame space(int b) {
            int w = whitespace(ws, b);
            return w < 0 ? FAIL : new ArrayFrame(node, state, w, count);
        }

        @Override
        boolean closed() {
            return state == CLOSED;
        }
    }

    /**
     * A string. {@code pending}: UTF-8 continuation bytes still expected, or for escapes -1 (after a backslash)
     * and -2..-5 (hex digits of a {@code \\u} escape still expected, negated plus one).
     */
    static final class StringFrame extends Frame {
        static final int OPEN = 0;
        static final int BODY = 1;
        static final int CLOSED = 2;

        final StringNode node;
        final int state;
        final int length;
        final int pending;
        /** The raw key text so far, or null when not captured. */
        final String captured;

        StringFrame(StringNode node, int state, int length, int pending, String captured) {
            this.node = node;
            this.state = state;
            this.length = length;
            this.pending = pending;
            this.captured = captured;
        }

        private StringFrame next(int newLength, int newPending, int b) {
            String c = captured == null ? null : captured + (char) b; // keys are short; bytes as Latin-1 chars
            return new StringFrame(node, BODY, newLength, newPending, c);
        }

        @Override
        Frame feed(int b) {
            if (state == OPEN) {
                return b == '"' ? new StringFrame(node, BODY, 0, 0, captured) : FAIL;
            }
            if (state != BODY) {
                return FAIL;
            }
            if (pending > 0) { // inside a multi-byte character
                return (b & 0xC0) == 0x80 ? next(length, pending - 1, b) : FAIL;
            }
            if (pending == -1) { // after a backslash
                if (b == 'u') {
                    return next(length, -5, b);
                }
                return "\"\\/bfnrt".indexOf(b) >= 0 ? next(length, 0, b) : FAIL;
            }
            if (pending < -1) { // hex digits of \\uXXXX
                boolean hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
                return hex ? next(length, pending == -2 ? 0 : pending + 1, b) : FAIL;
            }
            if (b == '"') {
                if (length < node.minLength) {
                    return FAIL;
                }
                return new StringFrame(node, CLOSED, length, 0, captured);
            }
            if (b < 0x20) {
                return FAIL; // control characters must be escaped
            }
            if (length >= node.maxLength) {
                return FAIL;
            }
            if (b == '\\') {
                return next(length + 1, -1, b);
            }
            if (b < 0x80) {
                return next(length + 1, 0, b);
            }
            // UTF-8 lead bytes: 110xxxxx (C2..DF), 1110xxxx, 11110xxx (F0..F4); C0, C1 and F5+ never appear.
            if (b >= 0xC2 && b <= 0xDF) {
                return next(length + 1, 1, b);
            }
            if (b >= 0xE0 && b <= 0xEF) {
                return next(length + 1, 2, b);
            }
            if (b >= 0xF0 && b <= 0xF4) {
                return next(length + 1, 3, b);
            }
            return FAIL;
        }

        @Override
        boolean closed() {
            return state == CLOSED;
        }
    }

    static final class NumberFrame extends Frame {
        static final int START = 0;      // '-' or a digit
        static final int MINUS = 1;      // after '-': a digit
        static final int ZERO = 2;       // integer part "0": '.', 'e' or the end
        static final int INT = 3;        // integer digits
        static final int DOT = 4;        // after '.': a digit
        static final int FRACTION = 5;
        static final int E = 6;          // after 'e': sign or digit
        static final int EXP_SIGN = 7;   // after the exponent's sign: a digit
        static final int EXPONENT = 8;

        final NumberNode node;
        final int state;
        final int digits; // digits in the current part
        final String text;

        NumberFrame(NumberNode node, int state, int digits, String text) {
            this.node = node;
            this.state = state;
            this.digits = digits;
            this.text = text;
        }

        private Frame go(int s, int d, int b) {
            NumberFrame f = new NumberFrame(node, s, d, text + (char) b);
            if (node.bounded() && !f.feasible()) {
                return FAIL;
            }
            return f;
        }

        @Override
        Frame feed(int b) {
            boolean digit = b >= '0' && b <= '9';
            switch (state) {
                case START:
                    if (b == '-') {
                        return go(MINUS, 0, b);
                    }
                    return digit ? go(b == '0' ? ZERO : INT, 1, b) : FAIL;
                case MINUS:
                    return digit ? go(b == '0' ? ZERO : INT, 1, b) : FAIL;
                case ZERO:
                case INT:
                    if (digit && state == INT) {
                        return digits < MAX_INT_DIGITS ? go(INT, digits + 1, b) : FAIL;
                    }
                    if (b == '.' && !node.integer) {
                        return go(DOT, 0, b);
                    }
                    if ((b == 'e' || b == 'E') && !node.integer && !node.bounded()) {
                        return go(E, 0, b);
                    }
                    return end();
                case DOT:
                    return digit ? go(FRACTION, 1, b) : FAIL;
                case FRACTION:
                    if (digit) {
                        return digits < MAX_FRACTION_DIGITS ? go(FRACTION, digits + 1, b) : FAIL;
                    }
                    if ((b == 'e' || b == 'E') && !node.bounded()) {
                        return go(E, 0, b);
                    }
                    return end();
                case E:
                    if (b == '+' || b == '-') {
                        return go(EXP_SIGN, 0, b);
                    }
                    return digit ? go(EXPONENT, 1, b) : FAIL;
                case EXP_SIGN:
                    return digit ? go(EXPONENT, 1, b) : FAIL;
                case EXPONENT:
                    if (digit) {
                        return digits < MAX_EXPONENT_DIGITS ? go(EXPONENT, digits + 1, b) : FAIL;
                    }
                    return end();
                default:
                    return FAIL;
            }
        }

        private Frame end() {
            return canEndAtEof() ? POP : FAIL;
        }

        @Override
        boolean canEndAtEof() {
            if (state != ZERO && state != INT && state != FRACTION && state != EXPONENT) {
                return false;
            }
            return !node.bounded() || node.inRange(new BigDecimal(text));
        }

        @Override
        boolean closed() {
            // Nothing can follow: integer digits exhausted where no '.'/'e' may come, or other parts exhausted.
            boolean noMore = switch (state) {
                case ZERO -> node.integer;
                case INT -> digits == MAX_INT_DIGITS && node.integer;
                case EXPONENT -> digits == MAX_EXPONENT_DIGITS;
                case FRACTION -> digits == MAX_FRACTION_DIGITS && node.bounded();
                default -> false;
            };
            return noMore && canEndAtEof();
        }

        /**
         * Whether some completion of the integer part typed so far can land in range: with k more digits an
         * integer part p spans [p * 10^k, p * 10^k + 10^k - 1], or up to (p + 1) * 10^k exclusive when a
         * fraction may follow (exponents are off for bounded numbers).
         */
        private boolean feasible() {
            boolean negative = text.startsWith("-");
            String mag = negative ? text.substring(1) : text;
            if (state == DOT || state == FRACTION) {
                // Completions of "I.F" lie in [I.F, I.F + 10^-len(F)).
                BigDecimal v = new BigDecimal(mag);
                BigDecimal ulp = BigDecimal.ONE.movePointLeft(v.scale());
                return negative ? node.intersects(v.add(ulp).negate(), v.negate(), false)
                        : node.intersects(v, v.add(ulp), true);
            }
            if (mag.isEmpty()) {
                // Only '-' so far: any negative value of the allowed size.
                BigDecimal lo = BigDecimal.TEN.pow(MAX_INT_DIGITS).negate();
                return node.intersects(lo, BigDecimal.ZERO, true);
            }
            BigInteger p = new BigInteger(mag);
            int maxMore = mag.equals("0") ? 0 : MAX_INT_DIGITS - mag.length();
            for (int k = 0; k <= maxMore; k++) {
                BigInteger scale = BigInteger.TEN.pow(k);
                BigDecimal lo = new BigDecimal(p.multiply(scale));
                BigDecimal hi = node.integer ? new BigDecimal(p.add(BigInteger.ONE).multiply(scale).subtract(BigInteger.ONE))
                        : new BigDecimal(p.add(BigInteger.ONE).multiply(scale));
                boolean ok = negative ? node.intersects(hi.negate(), lo.negate(), false)
                        : node.intersects(lo, hi, !node.integer);
                if (ok) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * One of a sorted set of byte strings sharing the first {@code pos} bytes: candidates {@code [lo, hi)}.
     * {@code ids} (keys only) maps a candidate to its property.
     */
    static final class LiteralFrame extends Frame {
        final byte[][] values;
        final int[] ids;
        final int lo;
        final int hi;
        final int pos;

        LiteralFrame(byte[][] values, int[] ids, int lo, int hi, int pos) {
            this.values = values;
            this.ids = ids;
            this.lo = lo;
            this.hi = hi;
            this.pos = pos;
        }

        @Override
        Frame feed(int b) {
            int nlo = -1;
            int nhi = -1;
            for (int i = lo; i < hi; i++) {
                byte[] v = values[i];
                if (v.length > pos && (v[pos] & 0xFF) == b) {
                    if (nlo < 0) {
                        nlo = i;
                    }
                    nhi = i + 1;
                } else if (nlo >= 0) {
                    break; // sorted: the matching ones are contiguous
                }
            }
            if (nlo < 0) {
                return canEndAtEof() ? POP : FAIL;
            }
            return new LiteralFrame(values, ids, nlo, nhi, pos + 1);
        }

        @Override
        boolean canEndAtEof() {
            return values[lo].length == pos; // sorted: a complete candidate comes first
        }

        @Override
        boolean closed() {
            return hi - lo == 1 && values[lo].length == pos;
        }
    }

    // ================================================================== stacks

    /** A persistent stack of frames; {@code below} is null at the root. */
    record Stack(Frame top, Stack below, int depth) {
        Stack push(Frame f) {
            return new Stack(f, this, depth + 1);
        }
    }

    static Stack[] initial(Node root) {
        return new Stack[] {new Stack(new RootFrame(root, false), null, 1)};
    }

    /** The states after {@code b}, or null when no alternative accepts it. */
    static Stack[] feed(Stack[] states, int b) {
        if (states.length == 1) {
            Stack s = states[0];
            Frame f = s.top();
            Frame r = f.feed(b);
            if (r != FAIL && r != POP && !(r instanceof Push)) {
                // The common path: the byte stays in the same value.
                Stack n = popClosed(new Stack(r, s.below(), s.depth()));
                return n == null ? null : new Stack[] {n};
            }
        }
        List<Stack> out = new ArrayList<>(2);
        for (Stack s : states) {
            feed(s, b, out);
        }
        if (out.isEmpty()) {
            return null;
        }
        if (out.size() > MAX_STACKS) {
            out = out.subList(0, MAX_STACKS);
        }
        return out.toArray(Stack[]::new);
    }

    private static void feed(Stack s, int b, List<Stack> out) {
        Frame f = s.top();
        Frame r = f.feed(b);
        if (r == FAIL) {
            return;
        }
        if (r == POP) {
            Stack below = s.below();
            if (below == null) {
                return;
            }
            Frame parent = below.top().childDone(f);
            if (parent != FAIL) {
                feed(new Stack(parent, below.below(), below.depth()), b, out);
            }
            return;
        }
        if (r instanceof Push p) {
            Stack base = new Stack(p.self, s.below(), s.depth());
            if (base.depth() >= MAX_DEPTH) {
                return;
            }
            List<Frame> children = new ArrayList<>(1);
            p.child.start(children);
            for (Frame c : children) {
                feed(base.push(c), b, out);
            }
            return;
        }
        Stack n = popClosed(new Stack(r, s.below(), s.depth()));
        if (n != null) {
            out.add(n);
        }
    }

    /** Pops finished values, letting each parent check and record them. */
    private static Stack popClosed(Stack s) {
        while (s.below() != null && s.top().closed()) {
            Frame parent = s.below().top().childDone(s.top());
            if (parent == FAIL) {
                return null;
            }
            s = new Stack(parent, s.below().below(), s.below().depth());
        }
        return s;
    }

    /** Whether the output may end here: every open frame can end without another byte. */
    static boolean accepting(Stack[] states) {
        for (Stack s : states) {
            boolean ok = true;
            for (Stack x = s; x != null && ok; x = x.below()) {
                ok = x.top().canEndAtEof();
            }
            if (ok) {
                return true;
            }
        }
        return false;
    }

    /** Whether a whole value was produced and nothing may follow. */
    static boolean complete(Stack[] states) {
        for (Stack s : states) {
            if (s.below() == null && s.top() instanceof RootFrame r && r.done) {
                return true;
            }
        }
        return false;
    }

}
