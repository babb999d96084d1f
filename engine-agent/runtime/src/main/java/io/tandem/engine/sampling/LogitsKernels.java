package io.tandem.engine.sampling;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The full-vocabulary passes of sampling, vectorized: max and {@code exp} over 32k–150k logits per token are
 * the only parts of sampling whose cost grows with the vocabulary. {@code exp} is the expensive one; the Vector
 * API's {@code EXP} is about four times faster than a scalar {@link Math#exp} loop on AVX2/AVX-512 machines and
 * accurate to about an ulp of float, which is ample for probabilities that are then summed in double.
 *
 * <p>Sums are taken per vector in float ({@code reduceLanes}) and across vectors in double, and
 * {@link #expWeights} records each block's sum so that {@link #drawIndex} can walk the same cumulative sums
 * block by block: the draw then reads the vocabulary once more only at vector stride.
 *
 * <p>Stateless and thread-safe. NaN logits are treated as {@code -inf} throughout.
 */
final class LogitsKernels {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int LANES = SPECIES.length();

    private LogitsKernels() {
    }

    /** Largest non-NaN value of {@code a[off, off + n)}, or {@code -inf} if there is none. */
    static float max(float[] a, int off, int n) {
        FloatVector best = FloatVector.broadcast(SPECIES, Float.NEGATIVE_INFINITY);
        int i = 0;
        int bound = SPECIES.loopBound(n);
        for (; i < bound; i += LANES) {
            FloatVector v = FloatVector.fromArray(SPECIES, a, off + i);
            // lanewise MAX propagates NaN; comparing first keeps NaN lanes out
            best = best.blend(v, v.compare(VectorOperators.GT, best));
        }
        float max = best.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            if (a[off + i] > max) {
                max = a[off + i];
            }
        }
        return max;
    }

    /** Number of blocks {@link #expWeights} reports sums for, for a vocabulary of {@code n}. */
    static int blockCount(int n) {
        return (n + LANES - 1) / LANES;
    }

    /**
     * Replaces {@code w[0, n)} with unnormalized probabilities {@code exp((w - max) * invT)}, zero for tokens
     * below {@code floor} (min_p), {@code -inf} or NaN. Stores each block of {@link #LANES} tokens' sum in
     * {@code blockSums} and returns their total.
     */
    static double expWeights(float[] w, int n, float max, float invT, float floor, double[] blockSums) {
        FloatVector vMax = FloatVector.broadcast(SPECIES, max);
        FloatVector vInvT = FloatVector.broadcast(SPECIES, invT);
        FloatVector zero = FloatVector.zero(SPECIES);
        double total = 0;
        int i = 0;
        int b = 0;
        int bound = SPECIES.loopBound(n);
        for (; i < bound; i += LANES, b++) {
            FloatVector v = FloatVector.fromArray(SPECIES, w, i);
            VectorMask<Float> keep = v.compare(VectorOperators.GE, floor);
            FloatVector e = v.sub(vMax).mul(vInvT).lanewise(VectorOperators.EXP);
            e = zero.blend(e, keep);
            e.intoArray(w, i);
            double s = e.reduceLanes(VectorOperators.ADD);
            blockSums[b] = s;
            total += s;
        }
        if (i < n) {
            float s = 0;
            for (; i < n; i++) {
                float v = w[i];
                float e = v >= floor ? (float) Math.exp((v - max) * invT) : 0f;
                w[i] = e;
                s += e;
            }
            blockSums[b] = s;
            total += s;
        }
        return total;
    }

    /**
     * Sum of {@code exp((a - max) * invT)} over {@code a[off, off + n)}, skipping values below {@code floor},
     * {@code -inf} and NaN; {@code a} is not modified.
     */
    static double sumExp(float[] a, int off, int n, float max, float invT, float floor) {
        FloatVector vMax = FloatVector.broadcast(SPECIES, max);
        FloatVector vInvT = FloatVector.broadcast(SPECIES, invT);
        FloatVector zero = FloatVector.zero(SPECIES);
        double total = 0;
        int i = 0;
        int bound = SPECIES.loopBound(n);
        for (; i < bound; i += LANES) {
            FloatVector v = FloatVector.fromArray(SPECIES, a, off + i);
            VectorMask<Float> keep = v.compare(VectorOperators.GE, floor);
            FloatVector e = v.sub(vMax).mul(vInvT).lanewise(VectorOperators.EXP);
            total += zero.blend(e, keep).reduceLanes(VectorOperators.ADD);
        }
        for (; i < n; i++) {
            float v = a[off + i];
            if (v >= floor) {
                total += Math.exp((v - max) * invT);
            }
        }
        return total;
    }

    /**
     * Inverse-CDF draw over weights written by {@link #expWeights}: the first index whose cumulative weight
     * exceeds {@code target}, found by walking the block sums and then the one block that crosses it. When
     * rounding leaves {@code target} unreached, the last index with positive weight.
     */
    static int drawIndex(float[] w, int n, double[] blockSums, double target) {
        int blocks = blockCount(n);
        double cumulative = 0;
        int lastPositiveBlock = -1;
        for (int b = 0; b < blocks; b++) {
            double s = blockSums[b];
            if (s > 0) {
                if (cumulative + s > target) {
                    int index = scanBlock(w, n, b, cumulative, target);
                    if (index >= 0) {
                        return index;
                    }
                    // float vs double summation order disagreed at the boundary: the block still wins
                    return lastPositive(w, n, b);
                }
                lastPositiveBlock = b;
            }
            cumulative += s;
        }
        return lastPositiveBlock < 0 ? -1 : lastPositive(w, n, lastPositiveBlock);
    }

    private static int scanBlock(float[] w, int n, int block, double cumulative, double target) {
        int end = Math.min(n, (block + 1) * LANES);
        for (int i = block * LANES; i < end; i++) {
            cumulative += w[i];
            if (w[i] > 0 && cumulative > target) {
                return i;
            }
        }
        return -1;
    }

    private static int lastPositive(float[] w, int n, int block) {
        int start = block * LANES;
        for (int i = Math.min(n, start + LANES) - 1; i >= start; i--) {
            if (w[i] > 0) {
                return i;
            }
        }
        return -1;
    }
}
