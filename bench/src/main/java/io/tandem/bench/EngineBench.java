package io.tandem.bench;

import io.tandem.bench.kernels.CpuClock;
import io.tandem.bench.kernels.MemoryBandwidth;
import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.scheduler.EngineConfig;
import io.tandem.engine.scheduler.GenerationListener;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import io.tandem.engine.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * End-to-end engine benchmark: prefill speed on a long prompt, decode speed at several batch sizes, and decode
 * efficiency, the share of the machine's memory read bandwidth that the weight reads of a decode step reach:
 * {@code weight bytes per step * steps per second / bandwidth}, the bandwidth being measured in the same run.
 */
public final class EngineBench {
    /**
     * One measured configuration; the prefill column is that of the first prompt length. {@code cpuTokS} and
     * {@code cpuEfficiency} are decode tok/s and efficiency per CPU-second of the engine's threads times the thread
     * count, against the probe measured the same way: what the run would give with the cores to itself.
     * {@code medianTokS} is {@code batch} over the median interval between two tokens of a sequence (one engine
     * step), and {@code medianEfficiency} the efficiency at that rate against the wall-clock probe: the typical step,
     * which a neighbour's burst or a late JIT compilation moves less than the mean.
     */
    public record Row(String model, String type, double bandwidthGBs, double prefillTokS, int batch,
                      double decodeTokS, double efficiency, double cpuTokS, double cpuEfficiency,
                      double medianTokS, double medianEfficiency) {
    }

    /**
     * Prefill speed of one prompt length ({@code chunk} tokens per engine step): wall clock, and per CPU-second of the
     * engine's threads times the thread count, which estimates the wall-clock rate with the cores to ourselves when
     * neighbours load the machine.
     */
    public record PrefillRow(String model, String type, int promptTokens, int chunk, double prefillTokS,
                             double cpuTokS) {
    }

    private final Path modelDir;
    private final int threads;
    private final int[] prefillTokens;
    private final int prefillChunk;
    private final int decodeTokens;
    private final int decodeWarmup;
    private final List<PrefillRow> prefillRows = new ArrayList<>();

    /**
     * @param prefillTokens prompt lengths whose prefill is timed (the first one fills the main table's column)
     * @param prefillChunk  tokens per engine step while prefilling; 0 = the whole prompt in one step
     * @param decodeWarmup  tokens each sequence decodes in an untimed run of the same batch shape first, so that the
     *                      timed run finds the decode path compiled by the JIT (at least 1)
     */
    public EngineBench(Path modelDir, int threads, int[] prefillTokens, int prefillChunk, int decodeTokens,
                       int decodeWarmup) {
        if (prefillTokens.length == 0) {
            throw new IllegalArgumentException("prefillTokens: none (expected: at least one length)");
        }
        if (decodeWarmup < 1) {
            throw new IllegalArgumentException("decodeWarmup: " + decodeWarmup + " (expected: >= 1)");
        }
        this.decodeWarmup = decodeWarmup;
        this.modelDir = modelDir;
        this.threads = threads;
        this.prefillTokens = prefillTokens.clone();
        this.prefillChunk = prefillChunk;
        this.decodeTokens = decodeTokens;
    }

    /** Every prompt length's prefill speed, of every {@link #run} so far. */
    public List<PrefillRow> prefillRows() {
        return prefillRows;
    }

    /** The generated model for a preset and type, written on first use. */
    public Path model(String preset, GgmlType type) throws Exception {
        return ModelGenerator.ensure(ModelSpec.preset(preset, type),
                modelDir.resolve("tandem-" + preset + "-" + type.name().toLowerCase(Locale.ROOT) + ".gguf"));
    }

    public List<Row> run(String preset, GgmlType type, int[] batches) throws Exception {
        Path path = model(preset, type);
        List<Row> rows = new ArrayList<>();
        int maxBatch = 0;
        for (int b : batches) {
            maxBatch = Math.max(maxBatch, b);
        }
        try (LoadedModel m = LoadedModel.load(path)) {
            int blockSize = 64;
            int longest = 0;
            for (int p : prefillTokens) {
                longest = Math.max(longest, p);
            }
            int perSeq = (Math.max(longest, 16 + Math.max(decodeTokens, decodeWarmup)) + blockSize) / blockSize + 1;
            int stepTokens = prefillChunk > 0 ? prefillChunk : longest;
            // Prompts may be longer than the generated model's nominal context: RoPE extrapolates, and random
            // weights have no quality to lose.
            EngineConfig cfg = EngineConfig.defaults().withThreads(threads).withBlockSize(blockSize)
                    .withMaxBatchTokens(Math.max(stepTokens, maxBatch)).withMaxRunning(Math.max(maxBatch, 1))
                    .withKvBlocks(Math.max(perSeq * Math.max(maxBatch, 1), 2 * perSeq) + 4)
                    .withMaxModelLen(Math.max(m.config().contextLength(), longest + 16));
            try (Engine engine = new Engine(m, cfg)) {
                long stepBytes = m.weights().matrixBytesPerStep();
                double prefill = 0;
                for (int i = 0; i < prefillTokens.length; i++) {
                    double tokS = prefill(engine, m, prefillTokens[i]);
                    prefillRows.add(new PrefillRow(preset, type.name(), prefillTokens[i],
                            Math.min(stepTokens, prefillTokens[i]), tokS, lastPrefillCpuTokS));
                    if (i == 0) {
                        prefill = tokS;
                    }
                }
                for (int b : batches) {
                    decode(engine, m, b, decodeWarmup); // warm-up of this batch shape (and of the JIT)
                    double tokS = decode(engine, m, b, decodeTokens);
                    double cpuTokS = lastDecodeCpuTokS;
                    double medianTokS = lastDecodeMedianTokS;
                    double bw = MemoryBandwidth.measureGBs();
                    double bwCpu = MemoryBandwidth.lastCpuGBs();
                    double eff = stepBytes * (tokS / b) / (bw * 1e9);
                    double cpuEff = stepBytes * (cpuTokS / b) / (bwCpu * 1e9);
                    double medianEff = stepBytes * (medianTokS / b) / (bw * 1e9);
                    rows.add(new Row(preset, type.name(), bw, prefill, b, tokS, eff, cpuTokS, cpuEff, medianTokS,
                            medianEff));
                }
            }
        }
        return rows;
    }

    private int[] prompt(LoadedModel m, int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) {
            ids[i] = r.nextInt(256, m.config().vocabSize() - 16);
        }
        return ids;
    }

    private static final AtomicLong IDS = new AtomicLong();

    /** Tokens per second of prefilling one prompt of {@code prefillTokens} (best of three after a warm-up). */
    private double prefill(Engine engine, LoadedModel m, int prefillTokens) {
        double best = 0;
        double bestCpu = 0;
        for (int i = 0; i < 4; i++) {
            int[] p = prompt(m, prefillTokens, i);
            long c0 = CpuClock.engineNanos();
            GenerationResult r = engine.generate(GenerationRequest.of("pf-" + IDS.incrementAndGet(), p,
                    SamplingParams.builder().temperature(0).maxTokens(1).ignoreEos(true).build()));
            double cpuPerThread = (CpuClock.engineNanos() - c0) / 1e9 / threads;
            double tokS = prefillTokens / (r.firstTokenNanos() / 1e9);
            if (i > 0) {
                best = Math.max(best, tokS);
                bestCpu = Math.max(bestCpu, prefillTokens / cpuPerThread);
            }
        }
        lastPrefillCpuTokS = bestCpu;
        return best;
    }

    private double lastPrefillCpuTokS;
    private double lastDecodeCpuTokS;
    private double lastDecodeMedianTokS;

    /**
     * Decode tokens per second with {@code batch} sequences running together: the tokens generated after every
     * sequence has its first token, over the time from then to the last token.
     */
    private double decode(Engine engine, LoadedModel m, int batch, int tokens) {
        // CPU time of the whole call (the 16-token prompts' prefill included, one step, a small share of a long run).
        long c0 = CpuClock.engineNanos();
        long[] firstAt = new long[batch];
        long[] lastAt = new long[batch];
        int[] count = new int[batch];
        // Intervals between consecutive tokens of each sequence: one engine step each.
        long[][] gaps = new long[batch][Math.max(1, tokens)];
        List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            int idx = i;
            fs.add(engine.submit(GenerationRequest.of("dc-" + IDS.incrementAndGet(), prompt(m, 16, 100 + i),
                    SamplingParams.builder().temperature(0).maxTokens(tokens + 1).ignoreEos(true).build()),
                    new GenerationListener() {
                        @Override
                        public void onToken(TokenOutput t) {
                            long now = System.nanoTime();
                            if (count[idx] > 0 && count[idx] - 1 < gaps[idx].length) {
                                gaps[idx][count[idx] - 1] = now - lastAt[idx];
                            }
                            if (count[idx]++ == 0) {
                                firstAt[idx] = now;
                            }
                            lastAt[idx] = now;
                        }

                        @Override
                        public void onFinish(GenerationResult r) {
                        }
                    }).result());
        }
        fs.forEach(CompletableFuture::join);
        double cpuPerThread = (CpuClock.engineNanos() - c0) / 1e9 / threads;
        long all = 0;
        for (int i = 0; i < batch; i++) {
            all += count[i];
        }
        lastDecodeCpuTokS = all / Math.max(1e-9, cpuPerThread);
        lastDecodeMedianTokS = batch / (medianGap(gaps, count) / 1e9);
        long start = Long.MIN_VALUE;
        long end = Long.MIN_VALUE;
        for (int i = 0; i < batch; i++) {
            start = Math.max(start, firstAt[i]);
            end = Math.max(end, lastAt[i]);
        }
        // Tokens produced strictly after the last sequence's first token.
        long produced = 0;
        for (int i = 0; i < batch; i++) {
            produced += count[i] - 1;
        }
        double seconds = Math.max(1e-9, (end - start) / 1e9);
        return tokens <= 1 ? 0 : produced / seconds;
    }

    /** Median of the recorded token intervals of all sequences, in nanoseconds (the first token has none). */
    static double medianGap(long[][] gaps, int[] count) {
        int n = 0;
        for (int i = 0; i < gaps.length; i++) {
            n += Math.max(0, Math.min(count[i] - 1, gaps[i].length));
        }
        if (n == 0) {
            return Double.NaN;
        }
        long[] all = new long[n];
        int k = 0;
        for (int i = 0; i < gaps.length; i++) {
            int m = Math.max(0, Math.min(count[i] - 1, gaps[i].length));
            System.arraycopy(gaps[i], 0, all, k, m);
            k += m;
        }
        java.util.Arrays.sort(all);
        return n % 2 == 1 ? all[n / 2] : (all[n / 2 - 1] + all[n / 2]) / 2.0;
    }

    public static String prefillTable(List<PrefillRow> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append("| model | type | prompt tokens | chunk | prefill tok/s | time to first token s "
                + "| tok/s per CPU-second x threads |\n");
        sb.append("|---|---|---:|---:|---:|---:|---:|\n");
        for (PrefillRow r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %.0f | %.2f | %.0f |%n", r.model(), r.type(),
                    r.promptTokens(), r.chunk(), r.prefillTokS(), r.promptTokens() / r.prefillTokS(), r.cpuTokS()));
        }
        return sb.toString();
    }

    /**
     * The decode table. "decode efficiency" is against the bandwidth probe run right after that row; the probe moves
     * from call to call (22-31 GB/s on the development machine), so the last column also gives the efficiency against
     * the highest probe reading of the whole run, the conservative figure.
     */
    public static String table(List<Row> rows) {
        double best = rows.stream().mapToDouble(Row::bandwidthGBs).max().orElse(Double.NaN);
        StringBuilder sb = new StringBuilder();
        sb.append("| model | type | prefill tok/s | batch | decode tok/s | read bandwidth GB/s | decode efficiency "
                + "| efficiency vs the run's best probe | decode tok/s per CPU-second x threads "
                + "| efficiency per CPU-second | decode tok/s at the median step | efficiency at the median step |\n");
        sb.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT,
                    "| %s | %s | %.0f | %d | %.1f | %.1f | %.0f%% | %.0f%% | %.1f | %.0f%% | %.1f | %.0f%% |%n",
                    r.model(), r.type(), r.prefillTokS(), r.batch(), r.decodeTokS(), r.bandwidthGBs(),
                    r.efficiency() * 100, r.efficiency() * r.bandwidthGBs() / best * 100, r.cpuTokS(),
                    r.cpuEfficiency() * 100, r.medianTokS(), r.medianEfficiency() * 100));
        }
        sb.append(String.format(Locale.ROOT, "(best probe reading of this run: %.1f GB/s)%n", best));
        return sb.toString();
    }
}
