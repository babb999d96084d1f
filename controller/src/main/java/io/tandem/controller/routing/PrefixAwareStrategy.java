package io.tandem.controller.routing;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.tandem.controller.registry.NodeSnapshot;

/**
 * Sends a prompt whose prefix a node served recently back to that node, where the prefix's KV blocks are likely
 * still cached; everything else goes to the fallback strategy.
 *
 * <p>The prompt is cut into chunks of {@code chunkChars} characters; the hash of each prefix ending on a chunk
 * boundary (up to {@code maxChunks}) maps to the node that last served it. A lookup takes the longest known prefix
 * whose node is still a candidate. To avoid piling every request of a popular system prompt onto one node, the
 * affinity is ignored when that node's {@linkplain Strategies#loadScore load score} exceeds the least loaded
 * candidate's by more than {@code maxImbalance}. Prompts shorter than one chunk carry no affinity.
 *
 * <p>Memory is bounded: at most {@code capacity} prefix entries, least recently used evicted first (about 64 bytes
 * each). Thread-safe: the table is guarded by its own lock (the strategy runs on request threads, not the owner
 * thread, and a lookup+record is a few map operations).
 */
public final class PrefixAwareStrategy implements RoutingStrategy {
    /**
     * @param chunkChars   characters per chunk (~4 characters per token)
     * @param maxChunks    longest prefix tracked, in chunks
     * @param capacity     prefix entries kept
     * @param maxImbalance load-score margin over the least loaded candidate beyond which affinity is dropped
     */
    public record Settings(int chunkChars, int maxChunks, int capacity, double maxImbalance) {
        public static final Settings DEFAULT = new Settings(256, 32, 100_000, 8.0);

        public Settings {
            if (chunkChars < 1) {
                throw new IllegalArgumentException("chunkChars: " + chunkChars + " (expected: >= 1)");
            }
            if (maxChunks < 1) {
                throw new IllegalArgumentException("maxChunks: " + maxChunks + " (expected: >= 1)");
            }
            if (capacity < 1) {
                throw new IllegalArgumentException("capacity: " + capacity + " (expected: >= 1)");
            }
            if (maxImbalance < 0) {
                throw new IllegalArgumentException("maxImbalance: " + maxImbalance + " (expected: >= 0)");
            }
        }
    }

    private final RoutingStrategy fallback;
    private final Settings settings;
    private final Object lock = new Object();
    // @GuardedBy("lock"); access-ordered: iteration starts at the least recently used entry
    private final LinkedHashMap<Long, String> owners;

    public PrefixAwareStrategy(RoutingStrategy fallback, Settings settings) {
        this.fallback = fallback;
        this.settings = settings;
        this.owners = new LinkedHashMap<>(1024, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, String> eldest) {
                return size() > settings.capacity();
            }
        };
    }

    @Override
    public String name() {
        return "prefix_aware";
    }

    @Override
    public Optional<NodeSnapshot> select(List<NodeSnapshot> candidates, RoutingContext context) {
        if (candidates.isEmpty()) {
            return Optional.empty();
        }
        long[] hashes = prefixHashes(context);
        NodeSnapshot chosen = null;
        if (hashes.length > 0) {
            double minScore = candidates.stream().mapToDouble(Strategies::loadScore).min().orElseThrow();
            synchronized (lock) {
                for (int i = hashes.length - 1; i >= 0 && chosen == null; i--) {
                    String owner = owners.get(hashes[i]);
                    if (owner == null) {
                        continue;
                    }
                    for (NodeSnapshot n : candidates) {
                        if (n.url().equals(owner) && Strategies.loadScore(n) <= minScore + settings.maxImbalance()) {
                            chosen = n;
                            break;
                        }
                    }
                }
            }
        }
        if (chosen == null) {
            chosen = fallback.select(candidates, context).orElseThrow();
        }
        if (hashes.length > 0) {
            synchronized (lock) {
                for (long h : hashes) {
                    owners.put(h, chosen.url());
                }
            }
        }
        return Optional.of(chosen);
    }

    /** Entries in the table (for tests and metrics). */
    public int size() {
        synchronized (lock) {
            return owners.size();
        }
    }

    /** Forgets every prefix a node served (the node left the pool). */
    public void forget(String nodeUrl) {
        synchronized (lock) {
            owners.values().removeIf(nodeUrl::equals);
        }
    }

    /** FNV-1a 64 of model + prompt prefix, sampled at each chunk boundary. */
    private long[] prefixHashes(RoutingContext context) {
        String prompt = context.prompt();
        int chunks = Math.min(settings.maxChunks(), prompt.length() / settings.chunkChars());
        long[] out = new long[chunks];
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < context.model().length(); i++) {
            h = (h ^ context.model().charAt(i)) * 0x100000001b3L;
        }
        h = (h ^ 0xFF) * 0x100000001b3L;
        int pos = 0;
        for (int c = 0; c < chunks; c++) {
            int end = (c + 1) * settings.chunkChars();
            for (; pos < end; pos++) {
                h = (h ^ prompt.charAt(pos)) * 0x100000001b3L;
            }
            out[c] = h;
        }
        return out;
    }
}
