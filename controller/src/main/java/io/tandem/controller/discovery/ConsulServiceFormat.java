package io.tandem.controller.discovery;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.registry.EngineRole;
import io.tandem.controller.registry.NodeSource;
import io.tandem.controller.registry.NodeSpec;

/**
 * How an agent registers itself in Consul so that the controller finds it. This is the whole contract (the agent
 * module registers with it; it does not depend on this class):
 * <ul>
 *   <li>service name {@value #SERVICE_NAME} (configurable on both sides);</li>
 *   <li>address and port: the agent's HTTP address, as the proxy reaches it (service address, or the node's address
 *       when the service has none); the url is {@code http://ADDRESS:PORT};</li>
 *   <li>optional meta {@code url}: the full base url, overriding address and port (for https or a path prefix);</li>
 *   <li>tag {@code role=hybrid|prefill|decode} (or 1, 2, 3), exactly one;</li>
 *   <li>tag {@code model=NAME}, one per served model, at least one;</li>
 *   <li>optional tag {@code speed=N} (LMDeploy's Status.speed);</li>
 *   <li>a health check: {@code HTTP GET http://ADDRESS:PORT/health} every 1 s, timeout 1 s,
 *       {@code DeregisterCriticalServiceAfter} 1 min. The controller reads only passing instances.</li>
 * </ul>
 * Example (Consul's agent API, {@code PUT /v1/agent/service/register}):
 * <pre>{"Name":"tandem-agent","ID":"tandem-agent-10.0.0.5-23333","Address":"10.0.0.5","Port":23333,
 *  "Tags":["role=prefill","model=llama-3-8b"],
 *  "Check":{"HTTP":"http://10.0.0.5:23333/health","Interval":"1s","Timeout":"1s",
 *           "DeregisterCriticalServiceAfter":"1m"}}</pre>
 */
public final class ConsulServiceFormat {
    public static final String SERVICE_NAME = "tandem-agent";

    private ConsulServiceFormat() {}

    /** The node an instance describes; {@link InvalidNodeException} names what is wrong. */
    public static NodeSpec parse(String serviceAddress, String nodeAddress, int port, List<String> tags,
                                 Map<String, String> meta) {
        EngineRole role = null;
        Integer speed = null;
        List<String> models = new ArrayList<>();
        for (String tag : tags) {
            int eq = tag.indexOf('=');
            if (eq < 0) {
                continue; // other tags are the operator's business
            }
            String key = tag.substring(0, eq).trim().toLowerCase(Locale.ROOT);
            String value = tag.substring(eq + 1).trim();
            switch (key) {
                case "role" -> {
                    if (role != null) {
                        throw new InvalidNodeException("tags: " + tags + " (expected: exactly one role=...)");
                    }
                    role = EngineRole.parse(value);
                }
                case "model" -> models.add(value);
                case "speed" -> {
                    try {
                        speed = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        throw new InvalidNodeException("tag speed=" + value + " (expected: an integer)");
                    }
                }
                default -> { }
            }
        }
        if (role == null) {
            throw new InvalidNodeException("tags: " + tags + " (expected: a role=hybrid|prefill|decode tag)");
        }
        if (models.isEmpty()) {
            throw new InvalidNodeException("tags: " + tags + " (expected: at least one model=NAME tag)");
        }
        String url = meta != null && meta.get("url") != null && !meta.get("url").isBlank() ? meta.get("url")
                : "http://" + hostForUrl(serviceAddress != null && !serviceAddress.isBlank() ? serviceAddress : nodeAddress)
                        + ":" + port;
        return new NodeSpec(url, role, models, speed, Optional.empty(), NodeSource.CONSUL);
    }

    private static String hostForUrl(String address) {
        if (address == null || address.isBlank()) {
            throw new InvalidNodeException("instance has no address");
        }
        return address.contains(":") && !address.startsWith("[") ? "[" + address + "]" : address;
    }
}
