package io.tandem.controller;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import org.junit.jupiter.api.Test;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;

/**
 * The controller's dependency rules: it knows nothing above it (proxy) or beside it (agent, kv transfer), and its
 * packages depend downwards only: facade -> grpc, discovery, admin -> pairing -> routing -> registry -> health -> errors.
 */
class LayeringTest {
    private static final JavaClasses CLASSES = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.tandem.controller");

    @Test
    void controller_doesNotKnowUpperOrSiblingModules() {
        noClasses().that().resideInAPackage("io.tandem.controller..")
                .should().dependOnClassesThat().resideInAnyPackage(
                        "io.tandem.proxy..", "io.tandem.agent..", "io.tandem.kv..", "io.tandem.engine..",
                        "io.micronaut..")
                .check(CLASSES);
    }

    @Test
    void generatedProtobuf_staysInTheGrpcPackage() {
        noClasses().that().resideInAPackage("io.tandem.controller..")
                .and().resideOutsideOfPackage("io.tandem.controller.grpc..")
                .should().dependOnClassesThat().resideInAPackage("io.tandem.proto..")
                .check(CLASSES);
    }

    @Test
    void packages_dependDownwardsOnly() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("Facade").definedBy("io.tandem.controller")
                .layer("Grpc").definedBy("io.tandem.controller.grpc..")
                .layer("Discovery").definedBy("io.tandem.controller.discovery..")
                .layer("Admin").definedBy("io.tandem.controller.admin..")
                .layer("Pairing").definedBy("io.tandem.controller.pairing..")
                .layer("Routing").definedBy("io.tandem.controller.routing..")
                .layer("Registry").definedBy("io.tandem.controller.registry..")
                .layer("Health").definedBy("io.tandem.controller.health..")
                .whereLayer("Facade").mayNotBeAccessedByAnyLayer()
                .whereLayer("Grpc").mayOnlyBeAccessedByLayers("Facade")
                .whereLayer("Discovery").mayOnlyBeAccessedByLayers("Facade")
                .whereLayer("Admin").mayOnlyBeAccessedByLayers("Facade")
                .whereLayer("Pairing").mayOnlyBeAccessedByLayers("Facade")
                .whereLayer("Routing").mayOnlyBeAccessedByLayers("Facade")
                .whereLayer("Registry").mayOnlyBeAccessedByLayers("Facade", "Grpc", "Discovery", "Pairing", "Routing")
                .whereLayer("Health").mayOnlyBeAccessedByLayers("Facade", "Registry")
                .check(CLASSES);
    }
}
