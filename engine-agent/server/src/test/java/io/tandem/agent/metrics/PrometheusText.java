package io.tandem.agent.metrics;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of Prometheus' text exposition format (version 0.0.4), for tests: it throws
 * {@link IllegalArgumentException} naming the line on anything a Prometheus server would refuse or misread, and
 * checks the rules that only show across lines: one {@code # TYPE} per family, before its samples; a family's
 * samples together; histogram buckets cumulative, with increasing {@code le}, ending in {@code +Inf}, equal to
 * {@code _count}, with a {@code _sum}; counters not negative.
 */
public final class PrometheusText {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"");
    private static final Set<String> TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");

    /** One sample line. */
    public record Sample(String name, Map<String, String> labels, double value) {
    }

    private final Map<String, String> types = new LinkedHashMap<>();
    private final List<Sample> samples = new ArrayList<>();

    private PrometheusText() {
    }

    /** Parses and validates {@code text}. */
    public static PrometheusText parse(String text) {
        PrometheusText p = new PrometheusText();
        Set<String> closedFamilies = new HashSet<>();
        Set<String> helped = new HashSet<>();
        String current = null;
        String[] lines = text.split("\n", -1);
        if (!text.isEmpty() && !text.endsWith("\n")) {
            throw new IllegalArgumentException("the text must end with a newline");
        }
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            String where = "line " + (i + 1) + " '" + line + "': ";
            if (line.isBlank()) {
                continue;
            }
            if (line.startsWith("#")) {
                String[] f = line.split(" ", 4);
                if (f.length >= 3 && (f[1].equals("HELP") || f[1].equals("TYPE"))) {
                    String family = f[2];
                    if (!NAME.matcher(family).matches()) {
                        throw new IllegalArgumentException(where + "bad metric name");
                    }
                    if (f[1].equals("TYPE")) {
                        if (f.length != 4 || !TYPES.contains(f[3])) {
                            throw new IllegalArgumentException(where + "bad type");
                        }
                        if (p.types.putIfAbsent(family, f[3]) != null) {
                            throw new IllegalArgumentException(where + "second TYPE for " + family);
                        }
                        if (closedFamilies.contains(family) || family.equals(current)) {
                            throw new IllegalArgumentException(where + "TYPE after samples of " + family);
                        }
                    } else if (!helped.add(family)) {
                        throw new IllegalArgumentException(where + "second HELP for " + family);
                    }
                }
                continue;
            }
            Sample s = sample(line, where);
            String family = p.familyOf(s.name());
            if (!family.equals(current)) {
                if (!closedFamilies.add(family)) {
                    throw new IllegalArgumentException(where + "samples of " + family + " are not together");
                }
                if (current != null) {
                    closedFamilies.add(current);
                }
                current = family;
            }
            p.samples.add(s);
        }
        p.checkFamilies();
        return p;
    }

    private static Sample sample(String line, String where) {
        Matcher n = NAME.matcher(line);
        if (!n.lookingAt()) {
            throw new IllegalArgumentException(where + "no metric name");
        }
        String name = n.group();
        int pos = n.end();
        Map<String, String> labels = new TreeMap<>();
        if (pos < line.length() && line.charAt(pos) == '{') {
            pos++;
            Matcher l = LABEL.matcher(line);
            while (line.charAt(pos) != '}') {
                if (!l.region(pos, line.length()).lookingAt()) {
                    throw new IllegalArgumentException(where + "bad label at column " + pos);
                }
                if (labels.put(l.group(1), l.group(2).replace("\\n", "\n").replace("\\\"", "\"")
                        .replace("\\\\", "\\")) != null) {
                    throw new IllegalArgumentException(where + "label " + l.group(1) + " twice");
                }
                pos = l.end();
                if (line.charAt(pos) == ',') {
                    pos++;
                } else if (line.charAt(pos) != '}') {
                    throw new IllegalArgumentException(where + "expected ',' or '}' at column " + pos);
                }
            }
            pos++;
        }
        if (pos >= line.length() || line.charAt(pos) != ' ') {
            throw new IllegalArgumentException(where + "expected one space before the value");
        }
        String[] rest = line.substring(pos + 1).split(" ");
        if (rest.length < 1 || rest.length > 2) {
            throw new IllegalArgumentException(where + "expected a value and an optional timestamp");
        }
        return new Sample(name, labels, number(rest[0], where));
    }

    private static double number(String v, String where) {
        return switch (v) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> {
                // Go's ParseFloat, which Prometheus uses, takes what Java's does minus the type suffixes.
                if (!v.matches("[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?")) {
                    throw new IllegalArgumentException(where + "bad value '" + v + "'");
                }
                yield Double.parseDouble(v);
            }
        };
    }

    private String familyOf(String sampleName) {
        for (String suffix : List.of("_bucket", "_sum", "_count")) {
            if (sampleName.endsWith(suffix)) {
                String base = sampleName.substring(0, sampleName.length() - suffix.length());
                if ("histogram".equals(types.get(base)) || "summary".equals(types.get(base))) {
                    return base;
                }
            }
        }
        return sampleName;
    }

    private void checkFamilies() {
        for (Sample s : samples) {
            String type = types.getOrDefault(familyOf(s.name()), "untyped");
            if (type.equals("counter") && !(s.value() >= 0)) {
                throw new IllegalArgumentException("counter " + s.name() + s.labels() + " = " + s.value());
            }
        }
        types.forEach((family, type) -> {
            if (type.equals("histogram")) {
                checkHistogram(family);
            }
        });
    }

    private void checkHistogram(String family) {
        Map<Map<String, String>, List<Sample>> buckets = new HashMap<>();
        for (Sample s : samples) {
            if (s.name().equals(family + "_bucket")) {
                if (!s.labels().containsKey("le")) {
                    throw new IllegalArgumentException(family + "_bucket without le: " + s.labels());
                }
                Map<String, String> key = new TreeMap<>(s.labels());
                key.remove("le");
                buckets.computeIfAbsent(key, k -> new ArrayList<>()).add(s);
            }
        }
        if (buckets.isEmpty()) {
            throw new IllegalArgumentException("histogram " + family + " has no buckets");
        }
        buckets.forEach((labels, series) -> {
            double lastLe = Double.NEGATIVE_INFINITY;
            double lastCount = 0;
            for (Sample b : series) {
                double le = number(b.labels().get("le"), family + b.labels() + ": le ");
                if (!(le > lastLe) || b.value() < lastCount) {
                    throw new IllegalArgumentException(family + b.labels() + ": buckets must have increasing le "
                            + "and cumulative counts");
                }
                lastLe = le;
                lastCount = b.value();
            }
            if (lastLe != Double.POSITIVE_INFINITY) {
                throw new IllegalArgumentException(family + labels + ": no le=\"+Inf\" bucket");
            }
            Double count = find(family + "_count", labels);
            if (count == null || find(family + "_sum", labels) == null) {
                throw new IllegalArgumentException(family + labels + ": _count or _sum missing");
            }
            if (count != lastCount) {
                throw new IllegalArgumentException(family + labels + ": _count " + count + " != +Inf bucket "
                        + lastCount);
            }
        });
    }

    private Double find(String name, Map<String, String> labels) {
        for (Sample s : samples) {
            if (s.name().equals(name) && s.labels().equals(labels)) {
                return s.value();
            }
        }
        return null;
    }

    /** The family's declared type, or null. */
    public String type(String family) {
        return types.get(family);
    }

    public List<Sample> samples() {
        return List.copyOf(samples);
    }

    /** The one sample named {@code name} whose labels include {@code labels} (pairs), or an error. */
    public double value(String name, String... labels) {
        Double found = null;
        outer:
        for (Sample s : samples) {
            if (!s.name().equals(name)) {
                continue;
            }
            for (int i = 0; i < labels.length; i += 2) {
                if (!labels[i + 1].equals(s.labels().get(labels[i]))) {
                    continue outer;
                }
            }
            if (found != null) {
                throw new IllegalArgumentException("more than one sample " + name + " with " + List.of(labels));
            }
            found = s.value();
        }
        if (found == null) {
            throw new IllegalArgumentException("no sample " + name + " with " + List.of(labels));
        }
        return found;
    }
}
