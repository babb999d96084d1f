package io.tandem.engine.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PagedAttentionTest {

    /** Scattered, non-contiguous block tables of several lengths against a float64 reference over plain arrays. */
    @ParameterizedTest
    @CsvSource({"1, 16, 8", "17, 16, 8", "64, 16, 64", "100, 32, 64", "1000, 64, 64", "33, 16, 32", "300, 64, 128", "7, 1, 16"})
    void attend_matchesFloat64ReferenceOverContiguousKv(int len, int blockSize, int headDim) {
        int layers = 3;
        int kvHeads = 2;
        int layer = 1;
        int kvHead = 1;
        KvLayout layout = new KvLayout(KvDtype.F32, layers, kvHeads, headDim, blockSize);
        int nBlocks = (len + blockSize - 1) / blockSize;
        SplittableRandom rnd = new SplittableRandom(len * 31L + headDim);
        try (KvCache cache = new KvCache(layout, nBlocks * 3, KvMemoryProvider.offHeap())) {
            // Every third block, backwards, so that the table is neither contiguous nor ordered.
            int[] table = new int[nBlocks];
            for (int i = 0; i < nBlocks; i++) {
                table[i] = (nBlocks - 1 - i) * 3 + 1;
            }
            float[][] keys = new float[len][headDim];
            float[][] values = new float[len][headDim];
            float[] kRow = new float[kvHeads * headDim];
            float[] vRow = new float[kvHeads * headDim];
            for (int p = 0; p < len; p++) {
                for (int i = 0; i < kRow.length; i++) {
                    kRow[i] = (float) rnd.nextGaussian();
                    vRow[i] = (float) rnd.nextGaussian();
                }
                System.arraycopy(kRow, kvHead * headDim, keys[p], 0, headDim);
                System.arraycopy(vRow, kvHead * headDim, values[p], 0, headDim);
                PagedAttention.store(cache, layer, table, p, kRow, 0, vRow, 0);
            }
            float[] q = new float[headDim];
            for (int i = 0; i < headDim; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            float scale = (float) (1 / Math.sqrt(headDim));
            float[] out = new float[headDim + 3];
            PagedAttention.attend(cache, layer, kvHead, table, len, q, 0, scale, new float[len], out, 3);

            double[] s = new double[len];
            double max = Double.NEGATIVE_INFINITY;
            for (int p = 0; p < len; p++) {
                double dot = 0;
                for (int i = 0; i < headDim; i++) {
                    dot += (double) q[i] * keys[p][i];
                }
                s[p] = dot * scale;
                max = Math.max(max, s[p]);
            }
            double sum = 0;
            for (int p = 0; p < len; p++) {
                s[p] = Math.exp(s[p] - max);
                sum += s[p];
            }
            for (int i = 0; i < headDim; i++) {
                double ref = 0;
                for (int p = 0; p < len; p++) {
                    ref += s[p] / sum * values[p][i];
                }
                assertThat((double) out[3 + i]).as("dim %d", i).isCloseTo(ref, org.assertj.core.data.Offset.offset(2e-5));
            }
        }
    }
}
