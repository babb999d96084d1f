package io.tandem.engine.weights;

import io.tandem.engine.errors.WeightUpdateException;
import io.tandem.engine.kernels.WeightMatrix;
import io.tandem.engine.model.ModelConfig;
import io.tandem.engine.model.WeightArenas;
import io.tandem.engine.scheduler.Engine;
import io.tandem.engine.tensor.Quants;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Logger;

/**
 * Updates an engine's weights in place from safetensors buckets, as RL trainers push them (the vLLM
 * {@code update_weights} flow): stage one or more buckets, then commit.
 *
 * <h2>Design</h2>
 * Staging does all the work off the engine loop: it parses and checks a whole bucket first (names, dtypes,
 * shapes, offsets), then converts each tensor into the engine's current type of that tensor (quantizing when the
 * model is quantized) in fresh native memory from the engine's {@link WeightArenas}; norms and biases become
 * {@code float[]}. Hugging Face Q/K projections of Llama/Mistral models are permuted as llama.cpp's converter
 * does, row by row while converting. {@link #commit()} only assembles a new {@code ModelWeights} from the
 * weights in use plus the staged tensors, on the engine loop between two steps ({@link Engine#updateWeights}),
 * so that it sees every earlier update; the engine then frees the memory of the matrices it replaced (never the
 * model file's mapping). A failure anywhere in staging discards everything staged, so a half-applied update
 * cannot be committed by mistake.
 *
 * <p>Names: the engine's GGUF names and Hugging Face names are both accepted (see {@code TensorNames}). A tied
 * model's {@code lm_head.weight}/{@code output.weight} is skipped, as vLLM does: the embedding is the output.
 *
 * <p>Memory: staged matrices live in native memory until {@link #commit()} hands them to the engine or
 * {@link #abort()} frees them, so a caller that gives up on an update must abort it.
 *
 * <p>Thread-safe: staging, commit and abort are synchronized on this updater; use one updater per engine.
 */
public final class WeightUpdater {
    private static final Logger LOG = Logger.getLogger(WeightUpdater.class.getName());

    private final Engine engine;
    private final ModelConfig config;
    // @GuardedBy("this"): GGUF name -> WeightMatrix (owned by the engine's WeightArenas) or float[].
    private final Map<String, Object> staged = new LinkedHashMap<>();

    public WeightUpdater(Engine engine) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.config = engine.model().config();
    }

    /**
     * Parses, validates and stages the tensors of a safetensors payload. A tensor staged before under the same
     * name is replaced.
     *
     * @throws WeightUpdateException on any problem, naming the tensor; everything staged so far is discarded
     */
    public synchronized void stageSafetensors(byte[] safetensorsBytes) {
        Objects.requireNonNull(safetensorsBytes, "safetensorsBytes");
        stage(MemorySegment.ofArray(safetensorsBytes));
    }

    /**
     * {@link #stageSafetensors} of a {@code .safetensors} file, read through a temporary mapping.
     *
     * @throws WeightUpdateException when the file cannot be read or its content is refused
     */
    public synchronized void stageFile(Path path) {
        Objects.requireNonNull(path, "path");
        try (Arena arena = Arena.ofConfined();
             FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            stage(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
        } catch (IOException e) {
            abort();
            throw new WeightUpdateException(null, path + ": cannot read safetensors file: " + e, e);
        }
    }

    /**
     * Swaps the staged tensors in between two engine steps: the new weights are the ones in use with the staged
     * tensors replacing theirs. Staging starts empty again at once.
     *
     * @return completes when the engine's next step uses the new weights; fails (weights unchanged, staged
     *     memory freed) when the engine closes first
     */
    public synchronized CompletableFuture<Void> commit() {
        if (staged.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        Map<String, Object> update = Map.copyOf(staged);
        staged.clear();
        CompletableFuture<Void> f = engine.updateWeights(base -> WeightSlots.replace(base, update));
        return f.whenComplete((v, err) -> {
            if (err != null) {
                // Never swapped in, so nobody else holds these matrices.
                update.values().forEach(this::free);
            }
        });
    }

    /** Discards the staged tensors and frees their memory. */
    public synchronized void abort() {
        staged.values().forEach(this::free);
        staged.clear();
    }

    /** Tensors staged and not yet committed. */
    public synchronized int stagedCount() {
        return staged.size();
    }

    private void free(Object tensor) {
        if (tensor instanceof WeightMatrix m) {
            engine.weightArenas().free(m);
        }
    }

    // @GuardedBy("this")
    private void stage(MemorySegment payload) {
        Map<String, Object> bucket = new LinkedHashMap<>();
        try {
            List<Safetensors.Tensor> tensors = Safetensors.parse(payload);
            // Types and shapes of the model's tensors; readable even while a level-2 sleep unmapped the data.
            Map<String, Object> slots = WeightSlots.tensors(engine.model().weights());
            record Planned(Safetensors.Tensor tensor, String gguf, boolean hf) {
            }
            // Check every tensor before converting any, so a bad bucket costs no conversion work.
            List<Planned> plan = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (Safetensors.Tensor t : tensors) {
                TensorNames.Resolved r = TensorNames.resolve(t.name());
                if (r == null) {
                    throw new WeightUpdateException(t.name(), "unknown tensor '" + t.name() + "' (expected: a GGUF "
                            + "name such as blk.0.attn_q.weight or a Hugging Face name such as "
                            + "model.layers.0.self_attn.q_proj.weight)");
                }
                if (r.ggufName().equals("output.weight") && config.tiedEmbeddings()) {
                    LOG.fine(() -> "skipping '" + t.name() + "': the model ties its output to the embedding");
                    continue;
                }
                Object slot = slots.get(r.ggufName());
                if (slot == null) {
                    throw new WeightUpdateException(t.name(), "tensor '" + t.name() + "': the model has no tensor '"
                            + r.ggufName() + "' (" + config.architecture().ggufName() + ", " + config.nLayers()
                            + " layers)");
                }
                long[] expected = slot instanceof WeightMatrix m ? new long[] {m.rows(), m.cols()}
                        : new long[] {((float[]) slot).length};
                if (!Arrays.equals(t.shape(), expected)) {
                    throw new WeightUpdateException(t.name(), "tensor '" + t.name() + "' has shape "
                            + Arrays.toString(t.shape()) + " (expected: " + Arrays.toString(expected) + ")");
                }
                if (!seen.add(r.ggufName())) {
                    throw new WeightUpdateException(t.name(), "tensor '" + t.name() + "': '" + r.ggufName()
                            + "' appears twice in the payload");
                }
                plan.add(new Planned(t, r.ggufName(), r.huggingFace()));
            }
            for (Planned p : plan) {
                int heads = p.hf() ? TensorNames.permutationHeads(p.gguf(), config) : 0;
                bucket.put(p.gguf(), slots.get(p.gguf()) instanceof WeightMatrix m
                        ? convertMatrix(p.tensor(), m, heads) : convertVector(p.tensor(), heads));
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            bucket.values().forEach(this::free);
            abort();
            if (e instanceof WeightUpdateException w) {
                throw w;
            }
            throw new WeightUpdateException(null, "staging weights failed: " + e, e);
        }
        bucket.forEach((name, tensor) -> {
            Object prev = staged.put(name, tensor);
            if (prev != null) {
                free(prev);
            }
        });
    }

    /** Converts into the type of {@code current}, row by row, permuting HF Q/K rows when {@code heads > 0}. */
    private WeightMatrix convertMatrix(Safetensors.Tensor t, WeightMatrix current, int heads) {
        int rows = current.rows();
        int cols = current.cols();
        WeightMatrix out = engine.weightArenas().allocate(current.type(), rows, cols);
        try {
            float[] row = new float[cols];
            for (int r = 0; r < rows; r++) {
                t.read((long) sourceRow(r, rows, heads) * cols, row, cols);
                Quants.quantizeRow(current.type(), row, 0, cols, out.data(), out.rowOffset(r));
            }
            // A replacement gets the decode tiles where the matrix it replaces had them (the loader's choice), in
            // its own arena, so that freeing it frees both.
            return current.decodeTiles() != null ? engine.weightArenas().withDecodeTiles(out) : out;
        } catch (RuntimeException e) {
            engine.weightArenas().free(out);
            throw e;
        }
    }

    private static float[] convertVector(Safetensors.Tensor t, int heads) {
        int n = Math.toIntExact(t.elements());
        float[] v = new float[n];
        if (heads == 0) {
            t.read(0, v, n);
            return v;
        }
        float[] one = new float[1];
        for (int r = 0; r < n; r++) {
            t.read(sourceRow(r, n, heads), one, 1);
            v[r] = one[0];
        }
        return v;
    }

    /**
     * The HF row that becomes engine row {@code r} under llama.cpp's Q/K permutation (see
     * {@code TensorNames.hfToGguf}): engine row {@code h*hd + 2j + s} comes from HF row {@code h*hd + s*hd/2 + j}.
     */
    private static int sourceRow(int r, int rows, int heads) {
        if (heads == 0) {
            return r;
        }
        int hd = rows / heads;
        int h = r / hd;
        int within = r % hd;
        return h * hd + (within % 2) * (hd / 2) + within / 2;
    }
}
