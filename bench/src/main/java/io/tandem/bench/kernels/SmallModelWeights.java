package io.tandem.bench.kernels;

import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import io.tandem.engine.tensor.Quants;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * Random weights with the per-layer matrix shapes of the {@code small} model (dim 768, FFN 2048, 12 heads of 64,
 * 4 KV heads): q [768, 768], k and v [256, 768], o [768, 768], gate and up [2048, 768], down [768, 2048].
 *
 * <p>One layer is quantized for real (random Gaussian data) and its bytes are replicated for the other layers, so
 * building a model far larger than the last-level cache stays fast. Not thread-safe; owns its arena.
 */
final class SmallModelWeights implements AutoCloseable {
    static final int DIM = 768;
    static final int KV_DIM = 256;
    static final int FFN = 2048;
    static final int VOCAB = 32000;

    /** Per layer: q, k, v, o, gate, up, down. */
    final WeightMatrix[][] layers;
    final long bytes;
    final long params;
    private final Arena arena = Arena.ofShared();

    SmallModelWeights(GgmlType type, int layerCount) {
        int[][] shapes = {{DIM, DIM}, {KV_DIM, DIM}, {KV_DIM, DIM}, {DIM, DIM}, {FFN, DIM}, {FFN, DIM}, {DIM, FFN}};
        MemorySegment[] proto = new MemorySegment[shapes.length];
        Random rnd = new Random(1);
        long layerBytes = 0;
        long layerParams = 0;
        for (int m = 0; m < shapes.length; m++) {
            proto[m] = random(type, shapes[m][0], shapes[m][1], rnd, arena);
            layerBytes += proto[m].byteSize();
            layerParams += (long) shapes[m][0] * shapes[m][1];
        }
        layers = new WeightMatrix[layerCount][shapes.length];
        Arena tiles = WeightMatrix.decodeTileArena(arena);
        for (int l = 0; l < layerCount; l++) {
            for (int m = 0; m < shapes.length; m++) {
                MemorySegment s = l == 0 ? proto[m] : arena.allocate(proto[m].byteSize(), 64);
                if (l > 0) {
                    s.copyFrom(proto[m]);
                }
                // As the model loader does: Q8_0 gets the decode kernel's tiles (off: -Dtandem.matmul.q8Tiles=false).
                layers[l][m] = WeightMatrix.of(type, shapes[m][0], shapes[m][1], s).withDecodeTiles(tiles);
            }
        }
        bytes = layerBytes * layerCount;
        params = layerParams * layerCount;
    }

    /** Layers needed for at least {@code targetBytes} of weights of this type. */
    static int layersFor(GgmlType type, long targetBytes) {
        long layerParams = (long) DIM * DIM * 2 + (long) KV_DIM * DIM * 2 + (long) FFN * DIM * 3;
        long layerBytes = type.byteSize(layerParams);
        return (int) Math.max(1, (targetBytes + layerBytes - 1) / layerBytes);
    }

    static MemorySegment random(GgmlType type, int rows, int cols, Random rnd, Arena arena) {
        MemorySegment s = arena.allocate(rows * type.byteSize(cols), 64);
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                row[c] = (float) rnd.nextGaussian() * 0.05f;
            }
            Quants.quantizeRow(type, row, 0, cols, s, r * type.byteSize(cols));
        }
        return s;
    }

    static WeightMatrix randomMatrix(GgmlType type, int rows, int cols, Arena arena) {
        return WeightMatrix.of(type, rows, cols, random(type, rows, cols, new Random(rows * 31L + cols), arena));
    }

    @Override
    public void close() {
        arena.close();
    }
}
