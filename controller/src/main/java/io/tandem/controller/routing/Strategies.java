package io.tandem.controller.routing;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.function.ToDoubleFunction;

import io.tandem.controller.registry.NodeLoad;
import io.tandem.controller.registry.NodeSnapshot;

/**
 * The built-in strategies. LMDeploy's three keep its semantics: {@code random} weighted by speed,
 * {@code min_expected_latency} = argmin unfinished/speed, {@code min_observed_latency} = argmin of the mean of the
 * last 15 latencies. Ties are broken at random (seeded), as LMDeploy shuffles before its argmin, so equal nodes share
 * the load. Nodes without a speed get the mean speed of those that have one (1 if none has).
 */
public final class Strategies {
    /** How many queued requests a full KV cache weighs in {@link #loadScore}. */
    static final double KV_WEIGHT = 4.0;
    /** A node with no free KV block is avoided unless every node is full. */
    static final double KV_FULL_PENALTY = 1_000.0;

    private Strategies() {}

    /** A strategy by name; {@code random} drives every random choice (seed it in tests). */
    public static RoutingStrategy create(StrategyName name, Random random) {
        return switch (name) {
            case RANDOM -> random(random);
            case MIN_EXPECTED_LATENCY -> minExpectedLatency(random);
            case MIN_OBSERVED_LATENCY -> minObservedLatency(random);
            case LEAST_LOADED -> leastLoaded(random);
            case POWER_OF_TWO -> powerOfTwo(random);
            case PREFIX_AWARE -> new PrefixAwareStrategy(leastLoaded(random), PrefixAwareStrategy.Settings.DEFAULT);
        };
    }

    public static RoutingStrategy random(Random random) {
        return new Named("random", (candidates, ctx) -> {
            double[] speeds = speeds(candidates);
            double total = 0;
            for (double s : speeds) {
                total += s;
            }
            double r = random.nextDouble() * total;
            for (int i = 0; i < speeds.length; i++) {
                r -= speeds[i];
                if (r < 0) {
                    return candidates.get(i);
                }
            }
            return candidates.getLast();
        });
    }

    public static RoutingStrategy minExpectedLatency(Random random) {
        return new Named("min_expected_latency", (candidates, ctx) -> {
            double[] speeds = speeds(candidates);
            List<Integer> index = new ArrayList<>();
            for (int i = 0; i < candidates.size(); i++) {
                index.add(i);
            }
            return candidates.get(argmin(index, i -> candidates.get(i).unfinished() / speeds[i], random));
        });
    }

    public static RoutingStrategy minObservedLatency(Random random) {
        return new Named("min_observed_latency", (candidates, ctx) ->
                argminNode(candidates, NodeSnapshot::meanLatencySeconds, random));
    }

    public static RoutingStrategy leastLoaded(Random random) {
        return new Named("least_loaded", (candidates, ctx) -> argminNode(candidates, Strategies::loadScore, random));
    }

    /** Two distinct candidates at random, the less loaded wins: near least-loaded balance without herding. */
    public static RoutingStrategy powerOfTwo(Random random) {
        return new Named("power_of_two", (candidates, ctx) -> {
            if (candidates.size() == 1) {
                return candidates.getFirst();
            }
            int a = random.nextInt(candidates.size());
            int b = random.nextInt(candidates.size() - 1);
            if (b >= a) {
                b++;
            }
            double sa = loadScore(candidates.get(a));
            double sb = loadScore(candidates.get(b));
            return sa <= sb ? candidates.get(a) : candidates.get(b);
        });
    }

    /**
     * Lower is better: queued work (the larger of what the node reports running+waiting and what the controller
     * routed and has not seen finish) plus KV pressure, {@link #KV_WEIGHT} queued requests for a full cache and
     * {@link #KV_FULL_PENALTY} when no block is free. Nodes without load reports (plain LMDeploy engines) are judged
     * by their unfinished count alone.
     */
    public static double loadScore(NodeSnapshot node) {
        if (node.load().isEmpty()) {
            return node.unfinished();
        }
        NodeLoad load = node.load().get();
        double score = Math.max(load.running() + load.waiting(), node.unfinished()) + KV_WEIGHT * load.kvUsage();
        if (load.kvBlocksFree() == 0 && load.kvBlocksUsed() > 0) {
            score += KV_FULL_PENALTY;
        }
        return score;
    }

    static double[] speeds(List<NodeSnapshot> candidates) {
        double known = 0;
        int count = 0;
        for (NodeSnapshot n : candidates) {
            if (n.speed() != null && n.speed() > 0) {
                known += n.speed();
                count++;
            }
        }
        double fallback = count == 0 ? 1.0 : known / count;
        double[] speeds = new double[candidates.size()];
        for (int i = 0; i < speeds.length; i++) {
            Integer s = candidates.get(i).speed();
            speeds[i] = s != null && s > 0 ? s : fallback;
        }
        return speeds;
    }

    static NodeSnapshot argminNode(List<NodeSnapshot> candidates, ToDoubleFunction<NodeSnapshot> score, Random random) {
        List<Integer> index = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            index.add(i);
        }
        return candidates.get(argmin(index, i -> score.applyAsDouble(candidates.get(i)), random));
    }

    /** Index of the lowest score; among equal lowest scores, a uniformly random one. */
    private static int argmin(List<Integer> index, ToDoubleFunction<Integer> score, Random random) {
        double best = index.stream().mapToDouble(score).min().orElseThrow();
        List<Integer> ties = index.stream().filter(i -> score.applyAsDouble(i) <= best + 1e-12).toList();
        return ties.size() == 1 ? ties.getFirst() : ties.get(random.nextInt(ties.size()));
    }

    /** A strategy from a selection function that is only called with a non-empty list. */
    private record Named(String name, Selector selector) implements RoutingStrategy {
        @Override
        public Optional<NodeSnapshot> select(List<NodeSnapshot> candidates, RoutingContext context) {
            if (candidates.isEmpty()) {
                return Optional.empty();
            }
            // Sorted by url so that a seeded choice does not depend on the registry's map order.
            List<NodeSnapshot> sorted = candidates.stream().sorted(Comparator.comparing(NodeSnapshot::url)).toList();
            return Optional.of(selector.select(sorted, context));
        }
    }

    @FunctionalInterface
    private interface Selector {
        NodeSnapshot select(List<NodeSnapshot> nonEmptyCandidates, RoutingContext context);
    }
}
