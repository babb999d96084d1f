package io.tandem.engine;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The engine runtime's dependency rules: it knows nothing of HTTP or of the modules above it, and its packages
 * depend downwards only (cli -> weights -> scheduler -> structured / model -> kv cache / sampling / text / compute
 * -> gguf).
 */
class LayeringTest {
    private static final JavaClasses CLASSES = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.tandem.engine");

    @Test
    void runtime_doesNotKnowHttpOrUpperModules() {
        noClasses().that().resideInAPackage("io.tandem.engine..")
                .should().dependOnClassesThat().resideInAnyPackage(
                        "io.tandem.agent..", "io.tandem.proxy..", "io.tandem.controller..", "io.tandem.kv..",
                        "io.micronaut..", "io.netty..", "java.net.http..", "com.sun.net.httpserver..")
                .check(CLASSES);
    }

    @Test
    void packages_dependDownwardsOnly() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("Cli").definedBy("io.tandem.engine.cli..")
                .layer("Weights").definedBy("io.tandem.engine.weights..")
                .layer("Scheduler").definedBy("io.tandem.engine.scheduler..")
                .layer("Structured").definedBy("io.tandem.engine.structured..")
                .layer("Generator").definedBy("io.tandem.engine.generator..")
                .layer("Model").definedBy("io.tandem.engine.model..")
                .layer("KvCache").definedBy("io.tandem.engine.kvcache..")
                .layer("Sampling").definedBy("io.tandem.engine.sampling..")
                .layer("Text").definedBy("io.tandem.engine.tokenizer..", "io.tandem.engine.template..")
                .layer("Gguf").definedBy("io.tandem.engine.gguf..")
                .layer("Compute").definedBy("io.tandem.engine.kernels..", "io.tandem.engine.tensor..")
                .whereLayer("Cli").mayNotBeAccessedByAnyLayer()
                .whereLayer("Weights").mayOnlyBeAccessedByLayers("Cli")
                .whereLayer("Scheduler").mayOnlyBeAccessedByLayers("Weights", "Cli")
                .whereLayer("Structured").mayOnlyBeAccessedByLayers("Scheduler", "Cli")
                .whereLayer("Generator").mayOnlyBeAccessedByLayers("Cli")
                .whereLayer("Model").mayOnlyBeAccessedByLayers("Weights", "Scheduler", "Cli")
                .whereLayer("KvCache").mayOnlyBeAccessedByLayers("Model", "Weights", "Scheduler", "Cli")
                .whereLayer("Sampling").mayOnlyBeAccessedByLayers("Structured", "Scheduler", "Cli")
                .whereLayer("Text").mayOnlyBeAccessedByLayers("Model", "Structured", "Scheduler", "Cli")
                .whereLayer("Gguf").mayOnlyBeAccessedByLayers("Model", "Generator", "Weights", "Cli")
                .whereLayer("Compute").mayOnlyBeAccessedByLayers("Gguf", "Model", "Generator", "Weights", "Scheduler",
                        "Cli")
                .check(CLASSES);
    }
}
