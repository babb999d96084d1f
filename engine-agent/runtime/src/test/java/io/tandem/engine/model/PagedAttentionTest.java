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

            double[] ref = reference(q, 0, keys, values, len, scale);
            for (int i = 0; i < headDim; i++) {
                assertThat((double) out[3 + i]).as("dim %d", i).isCloseTo(ref[i], org.assertj.core.data.Offset.offset(2e-5));
            }
        }
    }

    /**
     * A prefill chunk of {@code tokens} positions starting at {@code firstPos} (earlier positions already cached),
     * every query head of every kv head, attended block by block against a float64 reference of each (token, head)
     * over positions {@code 0 .. its own}. Chunk starts, lengths and row counts are deliberately not multiples of
     * the cache block, the key tile or {@link PagedAttention#BLOCK_ROWS}.
     */
    @ParameterizedTest
    @CsvSource({
        "0, 1, 16, 64, 2, 1",     // one token, plain multi-head
        "0, 37, 16, 64, 4, 3",    // chunk from position 0, GQA 3
        "45, 70, 16, 64, 4, 3",   // chunk starting inside a block
        "100, 33, 64, 32, 2, 4",  // head_dim 32, GQA 4
        "1500, 129, 64, 64, 2, 3", // long sequence: 1629 positions
        "3, 300, 32, 128, 1, 2",  // head_dim 128, block 32
        "250, 9, 1, 16, 2, 1",    // one-position blocks
        "61, 5, 64, 48, 1, 5"     // head_dim not a multiple of the lanes, GQA 5
    })
    void attendBlock_matchesFloat64ReferenceForEveryTokenAndHead(int firstPos, int tokens, int blockSize, int headDim,
                                                                 int kvHeads, int group) {
        int layers = 2;
        int layer = 1;
        int len = firstPos + tokens;
        int nHeads = kvHeads * group;
        int qDim = nHeads * headDim;
        KvLayout layout = new KvLayout(KvDtype.F32, layers, kvHeads, headDim, blockSize);
        int nBlocks = (len + blockSize - 1) / blockSize;
        SplittableRandom rnd = new SplittableRandom(firstPos * 7919L + tokens * 31L + headDim);
        try (KvCache cache = new KvCache(layout, nBlocks * 2 + 1, KvMemoryProvider.offHeap())) {
            int[] table = new int[nBlocks];
            for (int i = 0; i < nBlocks; i++) {
                table[i] = 2 * (nBlocks - 1 - i) + 1;
            }
            float[][][] keys = new float[kvHeads][len][headDim];
            float[][][] values = new float[kvHeads][len][headDim];
            float[] kRow = new float[kvHeads * headDim];
            float[] vRow = new float[kvHeads * headDim];
            for (int p = 0; p < len; p++) {
                for (int i = 0; i < kRow.length; i++) {
                    // Mean-shifted keys give peaked, uneven softmax rows, which exercises the running-max rescaling.
                    kRow[i] = (float) (rnd.nextGaussian() * 2 + (p % 17 == 0 ? 1.5 : 0));
                    vRow[i] = (float) rnd.nextGaussian();
                }
                for (int h = 0; h < kvHeads; h++) {
                    System.arraycopy(kRow, h * headDim, keys[h][p], 0, headDim);
                    System.arraycopy(vRow, h * headDim, values[h][p], 0, headDim);
                }
                PagedAttention.store(cache, layer, table, p, kRow, 0, vRow, 0);
            }
            int qOff = 5;
            float[] q = new float[qOff + tokens * qDim];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) rnd.nextGaussian();
            }
            float scale = (float) (1 / Math.sqrt(headDim));
            float[] out = new float[q.length];
            java.util.Arrays.fill(out, Float.NaN);
            int rows = tokens * group;
            int br = PagedAttention.BLOCK_ROWS;
            for (int kh = 0; kh < kvHeads; kh++) {
                for (int r = 0; r < rows; r += br) {
                    PagedAttention.attendBlock(cache, layer, kh, group, table, firstPos, r, Math.min(rows, r + br),
                            q, qOff, qDim, scale, out);
                }
            }
            assertThat(out[qOff - 1]).as("before the first row").isNaN();

            for (int t = 0; t < tokens; t++) {
                int visible = firstPos + t + 1;
                for (int h = 0; h < nHeads; h++) {
                    int kh = h / group;
                    int qo = qOff + t * qDim + h * headDim;
                    double[] ref = reference(q, qo, keys[kh], values[kh], visible, scale);
                    for (int i = 0; i < headDim; i++) {
                        assertThat((double) out[qo + i]).as("token %d head %d dim %d", t, h, i)
                                .isCloseTo(ref[i], org.assertj.core.data.Offset.offset(2e-5));
                    }
                }
            }
        }
    }

    /** softmax(q[qo..] . keys[0..visible) * scale) . values[0..visible), in float64 over plain arrays. */
    private static double[] reference(float[] q, int qo, float[][] keys, float[][] values, int visible, float scale) {
        int headDim = keys[0].length;
        double[] s = new double[visible];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p < visible; p++) {
            double dot = 0;
            for (int i = 0; i < headDim; i++) {
                dot += (double) q[qo + i] * keys[p][i];
            }
            s[p] = dot * scale;
            max = Math.max(max, s[p]);
        }
        double sum = 0;
        for (int p = 0; p < visible; p++) {
            s[p] = Math.exp(s[p] - max);
            sum += s[p];
        }
        double[] out = new double[headDim];
        for (int i = 0; i < headDim; i++) {
            for (int p = 0; p < visible; p++) {
                out[i] += s[p] / sum * values[p][i];
            }
        }
        return out;
    }
}
