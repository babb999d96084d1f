package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kernels.Matmul;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH: one {@link Matmul#matmul} on the small model's shapes ({@code rows x cols}), all cores.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -cp bench/target/tandem-bench-*.jar:$(cat
 * bench/target/classpath.txt) org.openjdk.jmh.Main MatmulBench} (add {@code -p type=Q8_0 -p n=1} to narrow). The
 * parameter grid covers every weight type at n = 1, 8, 32, 512; narrow it with {@code -p} (e.g.
 * {@code -p type=Q4_0,Q4_K,Q6_K -p n=1} for the k-quants' decode). Small
 * matrices stay cache-resident here, so n = 1 figures exceed DRAM bandwidth; KernelReport measures decode against
 * memory instead.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class MatmulBench {

    @Param({"F32", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16", "BF16"})
    public String type;

    @Param({"768x768", "2048x768", "768x2048", "32000x768"})
    public String shape;

    @Param({"1", "8", "32", "512"})
    public int n;

    private Arena arena;
    private ComputePool pool;
    private WeightMatrix w;
    private float[] x;
    private float[] out;

    @Setup(Level.Trial)
    public void setup() {
        String[] rc = shape.split("x");
        int rows = Integer.parseInt(rc[0]);
        int cols = Integer.parseInt(rc[1]);
        arena = Arena.ofShared();
        pool = new ComputePool();
        w = SmallModelWeights.randomMatrix(GgmlType.valueOf(type), rows, cols, arena);
        x = new float[n * cols];
        Random rnd = new Random(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        out = new float[n * rows];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    @Benchmark
    public float[] matmul() {
        Matmul.matmul(pool, w, x, n, out);
        return out;
    }
}
