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
 * <p>Immutable apart from {@link #close()}; thread-safe.
 */
public final class LoadedModel implements AutoCloseable {
    private final GgufFile file;
    private final ModelConfig config;
    private final ModelWeights weights;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final String name;

    private LoadedModel(GgufFile file, ModelConfig config, ModelWeights weights, Tokenizer tokenizer,
                        ChatTemplate chatTemplate, String name) {
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
        return file.path();
    }

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

    public ModelWeights weights() {
        return weights;
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
        file.close();
    }
}
