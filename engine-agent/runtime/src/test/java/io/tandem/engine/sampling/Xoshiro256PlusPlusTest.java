package io.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class Xoshiro256PlusPlusTest {

    @Test
    void splitMix64MatchesTheReferenceAndTheJdk() {
        // Reference SplitMix64 from state 0: first output 0xe220a8397b1dcdaf.
        assertThat(Xoshiro256PlusPlus.splitMix64(0x9e3779b97f4a7c15L)).isEqualTo(0xe220a8397b1dcdafL);
        // SplittableRandom(seed) is SplitMix64 with the golden gamma: same first value for any seed.
        for (long seed : new long[] {0, 1, -1, 42, Long.MIN_VALUE}) {
            assertThat(Xoshiro256PlusPlus.splitMix64(seed + 0x9e3779b97f4a7c15L))
                    .isEqualTo(new SplittableRandom(seed).nextLong());
        }
    }

    @Test
    void outputIsPinned() {
        // Values from an independent implementation of the reference C code (seeding via SplitMix64).
        Xoshiro256PlusPlus zero = new Xoshiro256PlusPlus(0);
        assertThat(zero.nextLong()).isEqualTo(0x53175d61490b23dfL);
        assertThat(zero.nextLong()).isEqualTo(0x61da6f3dc380d507L);
        assertThat(zero.nextLong()).isEqualTo(0x5c0fdf91ec9a7bfcL);
        Xoshiro256PlusPlus r = new Xoshiro256PlusPlus(42);
        assertThat(r.nextLong()).isEqualTo(-3425465463722317665L);
        assertThat(r.nextDouble()).isEqualTo((5881210131331364753L >>> 11) * 0x1.0p-53);
    }
}
