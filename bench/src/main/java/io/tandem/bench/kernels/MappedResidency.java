package io.tandem.bench.kernels;

import io.tandem.engine.kernels.ComputePool;
import io.tandem.engine.kvcache.KvCache;
import io.tandem.engine.kvcache.KvDtype;
import io.tandem.engine.kvcache.KvLayout;
import io.tandem.engine.kvcache.KvMemoryProvider;
import io.tandem.engine.model.ForwardBatch;
import io.tandem.engine.model.LlamaForward;
import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * How much of a model file's mapping stays resident: loads {@code MODEL} (default the generated small Q8_0 model),
 * prefills a 100-token prompt, decodes 10 tokens, and prints the mapping's resident MiB (from
 * {@code /proc/self/smaps}, Linux only) after loading and after the steps, next to the file's size.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp
 * bench/target/tandem-bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/classpath.txt)
 * io.tandem.bench.kernels.MappedResidency models/tandem-small-q8_0.gguf}
 */
public final class MappedResidency {
    private MappedResidency() {
    }

    public static void main(String[] args) throws IOException {
        Path path = Path.of(args.length > 0 ? args[0] : "models/tandem-small-q8_0.gguf").toAbsolutePath();
        try (LoadedModel m = LoadedModel.load(path); ComputePool pool = new ComputePool()) {
            System.out.printf(Locale.ROOT, "%s: %.1f MiB file; resident in the mapping after loading: %.1f MiB%n",
                    path.getFileName(), Files.size(path) / 1048576.0, residentMiB(path));
            ModelConfig c = m.config();
            KvLayout layout = new KvLayout(KvDtype.F32, c.nLayers(), c.nKvHeads(), c.headDim(), 64);
            try (KvCache cache = new KvCache(layout, 4, KvMemoryProvider.offHeap())) {
                int[] ids = new int[110];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = 300 + i;
                }
                int[] table = {0, 1, 2, 3};
                LlamaForward f = new LlamaForward(c, pool, 100, 1);
                ForwardBatch b = new ForwardBatch(100, 1);
                b.addSequence(table, ids, 0, 100, 0, true);
                f.forward(m.weights(), cache, b);
                for (int p = 100; p < ids.length; p++) {
                    b.clear();
                    b.addSequence(table, ids, p, p + 1, p, true);
                    f.forward(m.weights(), cache, b);
                }
            }
            System.out.printf(Locale.ROOT, "resident in the mapping after a 100-token prefill and 10 decode steps: %.1f MiB%n",
                    residentMiB(path));
        }
    }

    /** Resident MiB of this process's mappings of {@code file}. */
    static double residentMiB(Path file) throws IOException {
        long kib = 0;
        boolean inFile = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                inFile = line.endsWith(" " + file);
            } else if (inFile && line.startsWith("Rss:")) {
                kib += Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return kib / 1024.0;
    }
}
