package io.tandem.kv.layout;

import io.tandem.kv.errors.IncompatibleParallelLayoutException;
import java.util.ArrayList;
import java.util.List;

/**
 * Which prefill ranks connect to which decode ranks when the two engines split the model differently.
 *
 * <p>The rule: pipeline parallelism splits the layers into {@code ppSize} equal consecutive ranges and tensor
 * parallelism splits the KV heads into {@code tpSize} equal consecutive ranges; a rank holds the KV of
 * (its layer range) x (its head range). A prefill rank pairs with every decode rank whose layer range and head
 * range both intersect its own, since the decode rank needs some of the blocks' bytes that the prefill rank
 * holds. Examples (LMDeploy's): prefill pp4 vs decode tp2pp2 gives (0,0),(0,1),(1,0),(1,1),(2,2),(2,3),(3,2),(3,3);
 * tp4 vs tp4 gives (i,i).
 *
 * <p>Layouts that cannot be paired are refused with {@link IncompatibleParallelLayoutException}: a pp size that
 * does not divide the layers, or a tp size that does not divide the KV heads (replicated KV heads, tp &gt; heads,
 * are not supported). Pure and thread-safe; used at {@code p2p_initialize}.
 */
public final class RankPairing {

    private RankPairing() {
    }

    /**
     * @param numLayers the model's transformer layers
     * @param numKvHeads the model's KV heads per layer
     * @return the pairs, ordered by prefill rank then decode rank
     */
    public static List<RankPair> pairs(ParallelLayout prefill, ParallelLayout decode, int numLayers, int numKvHeads) {
        if (numLayers < 1) {
            throw new IncompatibleParallelLayoutException("numLayers: " + numLayers + " (expected: >= 1)");
        }
        if (numKvHeads < 1) {
            throw new IncompatibleParallelLayoutException("numKvHeads: " + numKvHeads + " (expected: >= 1)");
        }
        check("prefill", prefill, numLayers, numKvHeads);
        check("decode", decode, numLayers, numKvHeads);
        List<RankPair> pairs = new ArrayList<>();
        for (int p = 0; p < prefill.worldSize(); p++) {
            for (int d = 0; d < decode.worldSize(); d++) {
                boolean layers = intersects(prefill.ppRank(p), prefill.ppSize(), decode.ppRank(d), decode.ppSize(),
                        numLayers);
                boolean heads = intersects(prefill.tpRank(p), prefill.tpSize(), decode.tpRank(d), decode.tpSize(),
                        numKvHeads);
                if (layers && heads) {
                    pairs.add(new RankPair(p, d));
                }
            }
        }
        return pairs;
    }

    /** The decode ranks one prefill rank connects to. */
    public static List<Integer> decodeRanksOf(int prefillRank, ParallelLayout prefill, ParallelLayout decode,
                                             int numLayers, int numKvHeads) {
        if (prefillRank < 0 || prefillRank >= prefill.worldSize()) {
            throw new IllegalArgumentException("prefillRank: " + prefillRank + " (expected: 0 <= rank < "
                    + prefill.worldSize() + ")");
        }
        return pairs(prefill, decode, numLayers, numKvHeads).stream()
                .filter(p -> p.prefillRank() == prefillRank).map(RankPair::decodeRank).toList();
    }

    private static void check(String side, ParallelLayout l, int numLayers, int numKvHeads) {
        if (numLayers % l.ppSize() != 0) {
            throw new IncompatibleParallelLayoutException(side + " " + l + ": pp_size " + l.ppSize()
                    + " does not divide num_layers " + numLayers);
        }
        if (numKvHeads % l.tpSize() != 0) {
            throw new IncompatibleParallelLayoutException(side + " " + l + ": tp_size " + l.tpSize()
                    + " does not divide num_kv_heads " + numKvHeads
                    + (l.tpSize() > numKvHeads ? " (replicated KV heads are not supported)" : ""));
        }
    }

    /** Whether part {@code a} of {@code n} equal parts and part {@code b} of {@code m} equal parts of [0, total) overlap. */
    private static boolean intersects(int a, int n, int b, int m, int total) {
        long aStart = (long) a * (total / n);
        long aEnd = aStart + total / n;
        long bStart = (long) b * (total / m);
        long bEnd = bStart + total / m;
        return aStart < bEnd && bStart < aEnd;
    }
}
