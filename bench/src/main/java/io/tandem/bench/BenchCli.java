package io.tandem.bench;

import io.tandem.bench.agent.AgentBenchCommand;
import io.tandem.engine.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem bench}: the engine benchmark of docs/benchmarks.md. */
@Command(name = "bench", mixinStandardHelpOptions = true, subcommands = AgentBenchCommand.class,
        description = "Prefill tok/s (prompt lengths of --prefill-tokens, 512 by default), decode tok/s at batch "
                + "1/8/32 and decode efficiency against the memory read bandwidth measured in the same run.")
public final class BenchCli implements Callable<Integer> {
    @Option(names = "--preset", defaultValue = "small", description = "Model preset. Default: ${DEFAULT-VALUE}")
    String preset;

    @Option(names = "--types", split = ",", defaultValue = "f32,q8_0", description = "Weight types. Default: ${DEFAULT-VALUE}")
    List<String> types;

    @Option(names = "--batches", split = ",", defaultValue = "1,8,32", description = "Decode batch sizes. Default: ${DEFAULT-VALUE}")
    int[] batches;

    @Option(names = "--prefill-tokens", split = ",", defaultValue = "512",
            description = "Prompt lengths whose prefill is timed; the first fills the main table. Default: ${DEFAULT-VALUE}")
    int[] prefillTokens;

    @Option(names = "--prefill-chunk", defaultValue = "0",
            description = "Tokens per engine step while prefilling (0 = whole prompt in one step). Default: ${DEFAULT-VALUE}")
    int prefillChunk;

    @Option(names = "--decode-tokens", defaultValue = "64", description = "Tokens each sequence decodes. Default: ${DEFAULT-VALUE}")
    int decodeTokens;

    @Option(names = "--threads", defaultValue = "0", description = "0 = all cores. Default: ${DEFAULT-VALUE}")
    int threads;

    @Option(names = "--models", defaultValue = "models", description = "Where generated models are kept. Default: ${DEFAULT-VALUE}")
    Path models;

    @Override
    public Integer call() throws Exception {
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        EngineBench bench = new EngineBench(models, t, prefillTokens, prefillChunk, decodeTokens);
        List<EngineBench.Row> rows = new ArrayList<>();
        for (String type : types) {
            GgmlType gt = GgmlType.valueOf(type.toUpperCase(Locale.ROOT));
            rows.addAll(bench.run(preset, gt, batches));
            System.err.println("done " + preset + " " + gt);
        }
        System.out.printf(Locale.ROOT, "threads: %d, %s%n%n", t, Runtime.version());
        System.out.print(EngineBench.table(rows));
        if (prefillTokens.length > 1 || prefillChunk > 0) {
            System.out.println();
            System.out.print(EngineBench.prefillTable(bench.prefillRows()));
        }
        return 0;
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new BenchCli()).execute(args));
    }
}
