package io.tandem.proxy;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import org.junit.jupiter.api.Test;

import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;

/** proto <- controller <- proxy: the proxy never uses the agent, the engine or the KV transfer (tests may start them). */
class LayeringTest {
    @Test
    void proxy_dependsOnlyOnTheControllerAndProto() {
        noClasses().that().resideInAPackage("io.tandem.proxy..")
                .should().dependOnClassesThat().resideInAnyPackage("io.tandem.agent..", "io.tandem.engine..",
                        "io.tandem.kv..", "io.tandem.controller.internal..")
                .check(new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                        .importPackages("io.tandem.proxy"));
    }
}
