package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.Reader;
import java.lang.reflect.RecordComponent;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import io.tandem.agent.AgentMain;
import io.tandem.agent.config.AgentConfig;
import io.tandem.controller.discovery.ConsulServiceFormat;
import io.tandem.proxy.config.ProxyConfig;
import picocli.CommandLine;

/**
 * Keeps deploy/ from rotting: every YAML (and JSON) file there parses, every {@code --option} a container or compose
 * service passes to {@code tandem proxy} or {@code tandem agent} exists in that command line, every
 * {@code TANDEM_PROXY_*} / {@code TANDEM_AGENT_*} variable names a configuration key, and the Consul registrations
 * follow {@link ConsulServiceFormat}.
 */
class DeployManifestsTest {
    static final Path DEPLOY = Path.of(System.getProperty("tandem.root.dir", "..")).toAbsolutePath().normalize()
            .resolve("deploy");
    static final Set<String> PROXY_OPTIONS = options(new ProxyMain());
    static final Set<String> AGENT_OPTIONS = options(new AgentMain());

    static Set<String> options(Object command) {
        return new CommandLine(command).getCommandSpec().options().stream()
                .flatMap(o -> Arrays.stream(o.names())).collect(Collectors.toSet());
    }

    static List<Path> files(String... extensions) throws IOException {
        try (Stream<Path> all = Files.walk(DEPLOY)) {
            return all.filter(p -> Arrays.stream(extensions).anyMatch(e -> p.toString().endsWith(e))).sorted().toList();
        }
    }

    static List<Object> documents(Path file) throws IOException {
        List<Object> docs = new ArrayList<>();
        try (Reader r = Files.newBufferedReader(file)) {
            new Yaml().loadAll(r).forEach(docs::add);
        }
        return docs;
    }

    /** Every list under a "command" or "args" key, and every map under "env"/"environment", anywhere in the tree. */
    static void walk(Object node, List<List<?>> commands, List<String> envNames) {
        if (node instanceof Map<?, ?> map) {
            map.forEach((k, v) -> {
                if (("command".equals(k) || "args".equals(k)) && v instanceof List<?> list) {
                    commands.add(list);
                } else if ("environment".equals(k) && v instanceof Map<?, ?> env) {
                    env.keySet().forEach(name -> envNames.add(name.toString()));
                } else if ("env".equals(k) && v instanceof List<?> env) {
                    env.forEach(e -> envNames.add(String.valueOf(((Map<?, ?>) e).get("name"))));
                }
                walk(v, commands, envNames);
            });
        } else if (node instanceof List<?> list) {
            list.forEach(item -> walk(item, commands, envNames));
        }
    }

    @Test
    void everyManifestParses_andThereAreKubernetesAndConsulOnes() throws IOException {
        List<Path> yaml = files(".yaml", ".yml", ".json");
        for (Path f : yaml) {
            assertThat(documents(f)).as(f.toString()).isNotEmpty().doesNotContainNull();
        }
        assertThat(yaml).extracting(p -> DEPLOY.relativize(p).toString()).contains("k8s/proxy.yaml",
                "k8s/prefill.yaml", "k8s/decode.yaml", "k8s/secret.yaml", "consul/compose.yaml", "consul/services.json");
    }

    @Test
    void optionsAndEnvironmentVariables_existInTheProxyAndAgentCommandLines() throws IOException {
        int checked = 0;
        for (Path f : files(".yaml", ".yml")) {
            List<List<?>> commands = new ArrayList<>();
            List<String> env = new ArrayList<>();
            for (Object doc : documents(f)) {
                walk(doc, commands, env);
            }
            for (List<?> cmd : commands) {
                if (cmd.isEmpty()) {
                    continue;
                }
                String sub = cmd.getFirst().toString();
                Set<String> known = switch (sub) {
                    case "proxy" -> PROXY_OPTIONS;
                    case "agent" -> AGENT_OPTIONS;
                    default -> null; // another program's command (Consul)
                };
                if (known == null) {
                    continue;
                }
                for (Object arg : cmd) {
                    String a = arg.toString();
                    if (a.startsWith("--")) {
                        String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
                        assertThat(known).as(f + ": tandem " + sub + " " + name).contains(name);
                        checked++;
                    }
                }
            }
            for (String name : env) {
                if (name.startsWith("TANDEM_PROXY_")) {
                    assertThat(keys(ProxyConfig.class)).as(f + ": " + name).contains(key(name, "TANDEM_PROXY_"));
                } else if (name.startsWith("TANDEM_AGENT_")) {
                    assertThat(keys(AgentConfig.class)).as(f + ": " + name).contains(key(name, "TANDEM_AGENT_"));
                }
            }
        }
        assertThat(checked).as("options checked").isGreaterThan(20);
    }

    @Test
    void consulRegistrations_followTheControllersFormat() throws IOException {
        @SuppressWarnings("unchecked")
        Map<String, Object> root = (Map<String, Object>) documents(DEPLOY.resolve("consul/services.json")).getFirst();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> services = (List<Map<String, Object>>) root.get("services");
        assertThat(services).isNotEmpty();
        for (Map<String, Object> s : services) {
            assertThat(s.get("name")).isEqualTo(ConsulServiceFormat.SERVICE_NAME);
            @SuppressWarnings("unchecked")
            List<String> tags = (List<String>) s.get("tags");
            var spec = ConsulServiceFormat.parse((String) s.get("address"), "", (Integer) s.get("port"), tags, Map.of());
            assertThat(s.get("checks").toString()).contains(spec.url() + "/health");
        }
    }

    /** TANDEM_PROXY_NODE_ADMIN_KEY -> nodeAdminKey, as Micronaut maps environment variables onto keys. */
    static String key(String env, String prefix) {
        String[] parts = env.substring(prefix.length()).toLowerCase(Locale.ROOT).split("_");
        StringBuilder b = new StringBuilder(parts[0]);
        for (int i = 1; i < parts.length; i++) {
            b.append(Character.toUpperCase(parts[i].charAt(0))).append(parts[i].substring(1));
        }
        return b.toString();
    }

    static Set<String> keys(Class<? extends Record> config) {
        return Arrays.stream(config.getRecordComponents()).map(RecordComponent::getName).collect(Collectors.toSet());
    }
}
