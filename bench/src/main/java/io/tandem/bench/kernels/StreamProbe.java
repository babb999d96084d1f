package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.tensor.GgmlType;

/**
 * Decode-only streaming probe, quicker than {@link KernelReport}: {@code StreamProbe TYPE[,TYPE..] [MiB] [n,n..]
 * [threads]}. Per type and n, the weight-read rate of a small-model-shaped stack of {@code MiB} (1024) per
 * CPU-second x threads next to the memory read bandwidth measured the same way. A tuning aid.
 */
public final class StreamProbe {
    private StreamProbe() {
    }

    public static void main(String[] args) {
        long mib = args.length > 1 ? Long.parseLong(args[1]) : 1024;
        String[] ns = (args.length > 2 ? args[2] : "1").split(",");
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : Runtime.getRuntime().availableProcessors();
        try (ComputePool pool = new ComputePool(threads)) {
            for (String ts : args[0].split(",")) {
                GgmlType type = GgmlType.valueOf(ts);
                int layers = SmallModelWeights.layersFor(type, mib << 20);
                try (SmallModelWeights model = new SmallModelWeights(type, layers)) {
                    MemoryBandwidth.measureGBs(pool, 3);
                    double bwCpu = MemoryBandwidth.lastCpuGBs;
                    for (String s : ns) {
                        int n = Integer.parseInt(s);
                        double t = KernelReport.sweep(pool, model.layers, n, 2, 5);
                        double c = KernelReport.lastCpuSeconds;
                        System.out.printf("%-5s n=%-2d %7.1f MiB  bw/cpu-s %6.1f GB/s  decode/cpu-s %6.1f GB/s (%3.0f%%)"
                                + "  wall %6.1f GB/s%n", type, n, model.bytes / 1048576.0, bwCpu,
                                model.bytes / c / 1e9, 100 * model.bytes / c / 1e9 / bwCpu, model.bytes / t / 1e9);
                    }
                }
            }
        }
    }
}
