package io.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TopSelectorTest {

    @Test
    void keysOrderByLogitThenLowerIdAndRoundTrip() {
        float[] values = {Float.NEGATIVE_INFINITY, -1e30f, -2.5f, -0.0f, 0.0f, Float.MIN_VALUE, 1f, 3e38f,
                Float.POSITIVE_INFINITY};
        for (int i = 1; i < values.length; i++) {
            assertThat(TopSelector.key(values[i], 0)).as("%s vs %s", values[i], values[i - 1])
                    .isGreaterThanOrEqualTo(TopSelector.key(values[i - 1], 0));
            long k = TopSelector.key(values[i], 123_456);
            assertThat(TopSelector.logit(k)).isEqualTo(values[i] + 0.0f);
            assertThat(TopSelector.token(k)).isEqualTo(123_456);
        }
        assertThat(TopSelector.key(-0.0f, 5)).isEqualTo(TopSelector.key(0.0f, 5)); // -0 and +0 tie
        assertThat(TopSelector.key(1f, 3)).isGreaterThan(TopSelector.key(1f, 4)); // lower id ranks higher
        assertThat(TopSelector.key(1f, 0)).isGreaterThan(TopSelector.key(1f, Integer.MAX_VALUE));
    }

    @Test
    void selectionEqualsTheHeadOfAFullSort() {
        Random r = new Random(17);
        TopSelector sel = new TopSelector();
        for (int round = 0; round < 50; round++) {
            int n = 1 + r.nextInt(3000);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = round % 2 == 0 ? (float) r.nextGaussian() : r.nextInt(5); // many ties on odd rounds
            }
            Integer[] order = new Integer[n];
            Arrays.setAll(order, i -> i);
            Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -v[i]).thenComparingInt(i -> i));
            int k = 1 + r.nextInt(n + 10); // sometimes more than n: the append-and-sort path
            sel.reset(k, n);
            for (int i = 0; i < n; i++) {
                sel.offer(TopSelector.key(v[i], i));
            }
            int m = sel.finishDescending();
            assertThat(m).isEqualTo(Math.min(k, n));
            for (int j = 0; j < m; j++) {
                assertThat(TopSelector.token(sel.get(j))).isEqualTo(order[j]);
            }
        }
    }
}
