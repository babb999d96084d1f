package io.tandem.engine.sampling;

import java.util.random.RandomGenerator;

/**
 * xoshiro256++ (Blackman and Vigna, 2019), seeded from a {@code long} through SplitMix64 as its authors
 * recommend.
 *
 * <p>Our own copy rather than {@code RandomGeneratorFactory.of("Xoshiro256PlusPlus")} or
 * {@link java.util.SplittableRandom}: a seeded request must reproduce the same tokens across JVM runs and JDK
 * upgrades, and the JDK only promises identical sequences "in the same program execution" and leaves seed
 * expansion and {@code nextDouble} derivation to the implementation. Every output here is fixed by the
 * published reference algorithm. Not thread-safe.
 */
final class Xoshiro256PlusPlus implements RandomGenerator {
    private long s0;
    private long s1;
    private long s2;
    private long s3;

    Xoshiro256PlusPlus(long seed) {
        long x = seed;
        x += 0x9e3779b97f4a7c15L;
        s0 = splitMix64(x);
        x += 0x9e3779b97f4a7c15L;
        s1 = splitMix64(x);
        x += 0x9e3779b97f4a7c15L;
        s2 = splitMix64(x);
        x += 0x9e3779b97f4a7c15L;
        s3 = splitMix64(x);
        // SplitMix64 is a bijection on distinct inputs, so the state cannot be all zero.
    }

    /** SplitMix64's output function (Stafford's variant 13) applied to an already advanced state. */
    static long splitMix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    @Override
    public long nextLong() {
        long result = Long.rotateLeft(s0 + s3, 23) + s0;
        long t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = Long.rotateLeft(s3, 45);
        return result;
    }

    /** Uniform in [0, 1) from the top 53 bits; pinned here rather than inherited from a default method. */
    @Override
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }
}
