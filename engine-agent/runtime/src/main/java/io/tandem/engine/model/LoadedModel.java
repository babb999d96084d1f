package io.tandem.engine.model;

import io.tandem.engine.errors.ModelLoadException;
import io.tandem.engine.gguf.GgufFile;
import io.tandem.engine.template.ChatTemplate;
import io.tandem.engine.tokenizer.Tokenizer;
import io.tandem.engine.tokenizer.TokenizerSpec;
import io.tandem.engine.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.function.IntConsumer;

/**
 * A model ready to run: its open GGUF file (which keeps the weight mapping alive), configuration, weights,
 * tokenizer and chat template. Closing it unmaps the weights, so close it only after the engine using it stopped.
 *
 * <p>An engine put to sleep at level 2 {@link #unmapWeights() unmaps} the file to give its memory back and
 * {@link #remapWeights() maps it again} on wake-up; the configuration, tokenizer and template stay. So a model
 * whose engine may sleep at level 2 must not be shared with another running engine.
 *
 * <p>Thread-safe: the mapping changes under {@code lock}; readers see it through volatile fields.
 */
public final class LoadedModel implements AutoCloseable {
    private final Path path;
    private final Object lock = new Object();
    // Written under lock (unmap/remap), read anywhere.
    private volatile GgufFile file;
    private volatile ModelWeights weights;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final String name;

    private LoadedModel(GgufFile file, ModelConfig config, ModelWeights weights, Tokenizer tokenizer,
                        ChatTemplate chatTemplate, String name) {
        this.path = file.path();
        this.file = file;
        this.config = config;
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.name = name;
    }

    public static LoadedModel load(Path path) {
        return load(path, layer -> { });
    }

    /** Opens and checks the file; {@code progress} hears each loaded layer index. */
    public static LoadedModel load(Path path, IntConsumer progress) {
        GgufFile file;
        try {
            file = GgufFile.open(path);
        } catch (java.io.IOException e) {
            throw new ModelLoadException(path + ": cannot read model file: " + e, e);
        }
        try {
            ModelConfig config = ModelLoader.config(file);
            ModelWeights weights = ModelLoader.weights(file, config, progress);
            TokenizerSpec spec = TokenizerSpec.fromMetadata(key -> file.metadata().contains(key)
                    ? file.metadata().get(key) : null);
            Tokenizer tokenizer = Tokenizers.create(spec);
            ChatTemplate template = ChatTemplate.forModel(spec.chatTemplate());
            String fileName = path.getFileName().toString();
            String name = file.metadata().getString("general.name",
                    fileName.endsWith(".gguf") ? fileName.substring(0, fileName.length() - 5) : fileName);
            return new LoadedModel(file, config, weights, tokenizer, template, name);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** The open file; after {@link #unmapWeights()} a closed one until {@link #remapWeights()}. */
    public GgufFile file() {
        return file;
    }

    /** {@code general.name}, or the file name without {@code .gguf}. */
    public String name() {
        return name;
    }

    public ModelConfig config() {
        return config;
    }

    /**
     * The weights as read from the file. After {@link #unmapWeights()} their matrices point into the released
     * mapping (types and shapes remain readable; the data does not) until {@link #remapWeights()}.
     */
    public ModelWeights weights() {
        return weights;
    }

    /** Whether the file is mapped, so that {@link #weights()} may be read. */
    public boolean isMapped() {
        return file.isOpen();
    }

    /**
     * Unmaps the file, releasing the memory behind {@link #weights()}; nothing may read those weights any more.
     * Idempotent.
     */
    public void unmapWeights() {
        synchronized (lock) {
            file.close();
        }
    }

    /**
     * Maps the file again if it is unmapped and returns the weights read from it; returns the current weights
     * otherwise.
     *
     * @throws ModelLoadException when the file cannot be read, or no longer holds the same model
     */
    public ModelWeights remapWeights() {
        synchronized (lock) {
            if (file.isOpen()) {
                return weights;
            }
            GgufFile f;
            try {
                f = GgufFile.open(path);
            } catch (java.io.IOException e) {
                throw new ModelLoadException(path + ": cannot map model file again: " + e, e);
            }
            try {
                ModelConfig c = ModelLoader.config(f);
                if (!c.equals(config)) {
                    throw new ModelLoadException(path + ": the file changed since it was loaded (configuration "
                            + c + ", expected: " + config + ")");
                }
                weights = ModelLoader.weights(f, config, layer -> { });
                file = f;
                return weights;
            } catch (RuntimeException e) {
                f.close();
                throw e;
            }
        }
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    /** The dominant matrix type, for display ("F32", "Q8_0"). */
    public String weightType() {
        return weights.layers().getFirst().wq().type().name();
    }

    @Override
    public void close() {
        synchronized (lock) {
            file.close();
        }
    }
}
