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

    @Option(names = "--decode-warmup", defaultValue = "128",
            description = "Tokens each sequence decodes, untimed, before each batch size's timed run, so that the JIT "
                    + "has compiled the decode path (with 1, a 256-token run of the Q8_0 model still included "
                    + "compilation). Default: ${DEFAULT-VALUE}")
    int decodeWarmup;

    @Option(names = "--threads", defaultValue = "0", description = "0 = all cores. Default: ${DEFAULT-VALUE}")
    int threads;

    @Option(names = "--models", defaultValue = "models", description = "Where generated models are kept. Default: ${DEFAULT-VALUE}")
    Path models;

    @Option(names = "--same-jvm", description = "Measure every type in this JVM, one after the other. By default each "
            + "type gets a fresh JVM: in one JVM the type measured second decoded up to 35% slower (F32 at batch 1: "
            + "58% of the probe after Q8_0, 89-92% first or alone), as one agent process never serves two.")
    boolean sameJvm;

    @Override
    public Integer call() throws Exception {
        if (types.size() > 1 && !sameJvm) {
            return forkPerType();
        }
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        EngineBench bench = new EngineBench(models, t, prefillTokens, prefillChunk, decodeTokens, decodeWarmup);
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

    /**
     * Runs this command once per type, each in a new JVM with this one's options, and prints the first run's output
     * whole and the others' table rows under it (each run measured its own bandwidth probe).
     */
    private int forkPerType() throws Exception {
        String[] args = spec.commandLine().getParseResult().originalArgs().toArray(String[]::new);
        List<String> header = null;
        List<String> rows = new ArrayList<>();
        List<String> rest = new ArrayList<>();
        for (String type : types) {
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), BenchCli.class.getName()));
            cmd.addAll(childArgs(args, type));
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            List<String> out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)
                    .lines().toList();
            if (p.waitFor() != 0) {
                throw new IllegalStateException("bench of " + type + " failed (exit " + p.exitValue() + ")");
            }
            List<String> table = out.stream().filter(l -> l.startsWith("| ") && !l.startsWith("| model")).toList();
            if (header == null) {
                header = out.stream().takeWhile(l -> !l.startsWith("| ") || l.startsWith("| model")
                        || l.startsWith("|---")).filter(l -> !l.startsWith("(")).toList();
            }
            rows.addAll(table);
            out.stream().filter(l -> l.startsWith("(")).map(l -> type + ": " + l).forEach(rest::add);
        }
        header.forEach(System.out::println);
        rows.forEach(System.out::println);
        rest.forEach(System.out::println);
        System.out.println("(each type measured in its own JVM; --same-jvm for one)");
        return 0;
    }

    /** This command's arguments for the run of {@code type} alone: every {@code --types} replaced, in this JVM. */
    static List<String> childArgs(String[] args, String type) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--types")) {
                i++;
            } else if (!args[i].startsWith("--types=")) {
                out.add(args[i]);
            }
        }
        out.addAll(List.of("--types", type, "--same-jvm"));
        return out;
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(new CommandLine(new BenchCli()).execute(args));
    }
}
