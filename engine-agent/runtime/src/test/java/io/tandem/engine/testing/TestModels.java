package io.tandem.engine.testing;

import io.tandem.engine.generator.ModelGenerator;
import io.tandem.engine.generator.ModelSpec;
import io.tandem.engine.tensor.GgmlType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Model files for tests: generated ones (made once per build under target/) and the shared real model. */
public final class TestModels {
    private static final Path DIR = Path.of("target", "test-models");

    private TestModels() {
    }

    /** The tiny preset in {@code type}, generated on first use. */
    public static synchronized Path tiny(GgmlType type) {
        return generated(ModelSpec.tiny(type), "tiny-" + type.name().toLowerCase() + ".gguf");
    }

    /** A generated model of any spec, cached by file name. */
    public static synchronized Path generated(ModelSpec spec, String fileName) {
        Path p = DIR.resolve(fileName);
        if (!Files.exists(p)) {
            try {
                Files.createDirectories(DIR);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            ModelGenerator.generate(spec, p);
        }
        return p;
    }

    /** The shared folder beside the project ({@code ../shared}), as surefire passes it. */
    public static Path sharedDir() {
        String prop = System.getProperty("tandem.shared.dir");
        if (prop != null && Files.isDirectory(Path.of(prop))) {
            return Path.of(prop);
        }
        return Path.of("..", "..", "..", "shared");
    }

    /** The real TinyStories 260K model; skips the calling test when the shared folder lacks it. */
    public static Path stories() {
        Path p = sharedDir().resolve("models").resolve("stories260K.gguf");
        Assumptions.assumeTrue(Files.exists(p), "shared/models/stories260K.gguf not found at " + p.toAbsolutePath()
                + " (it sits beside the project in CI)");
        return p;
    }
}
