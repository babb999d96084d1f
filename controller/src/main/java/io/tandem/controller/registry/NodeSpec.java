package io.tandem.controller.registry;

import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

import io.tandem.controller.errors.InvalidNodeException;

/**
 * What is known of a node when it is added: its url (also its DistServe engine id), role, served models, speed
 * (LMDeploy's Status.speed, may be null) and, for agents, the engine config they registered with.
 */
public record NodeSpec(String url, EngineRole role, List<String> models, Integer speed,
                       Optional<DistServeEngineConfig> engineConfig, NodeSource source) {
    public NodeSpec {
        url = normalizeUrl(url);
        if (role == null) {
            throw new InvalidNodeException("role: null (expected: 1 Hybrid, 2 Prefill or 3 Decode)");
        }
        models = models == null ? List.of() : List.copyOf(models);
        for (String m : models) {
            if (m == null || m.isBlank()) {
                throw new InvalidNodeException("models: " + models + " (expected: non-blank names)");
            }
        }
        if (speed != null && speed < 0) {
            throw new InvalidNodeException("speed: " + speed + " (expected: >= 0 or null)");
        }
        engineConfig = engineConfig == null ? Optional.empty() : engineConfig;
        if (source == null) {
            throw new InvalidNodeException("source: null");
        }
    }

    /** A node added by url, as {@code POST /nodes/add} does. */
    public static NodeSpec of(String url, EngineRole role, List<String> models) {
        return new NodeSpec(url, role, models, null, Optional.empty(), NodeSource.STATIC);
    }

    public NodeSpec withSource(NodeSource newSource) {
        return new NodeSpec(url, role, models, speed, engineConfig, newSource);
    }

    /**
     * The canonical form of a node url: http(s)://host:port[/path] without a trailing slash, scheme and host lower
     * case. Node urls are map keys and engine ids, so two spellings of one node must compare equal.
     */
    public static String normalizeUrl(String url) {
        if (url == null || url.isBlank()) {
            throw new InvalidNodeException("url: '" + url + "' (expected: http://host:port)");
        }
        URI uri;
        try {
            uri = URI.create(url.trim());
        } catch (IllegalArgumentException e) {
            throw new InvalidNodeException("url: '" + url + "' (expected: http://host:port): " + e.getMessage());
        }
        String scheme = uri.getScheme() == null ? null : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!"http".equals(scheme) && !"https".equals(scheme) || uri.getHost() == null) {
            throw new InvalidNodeException("url: '" + url + "' (expected: http://host:port)");
        }
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        while (path.endsWith("/")) {
            path = path.substring(0, path.length() - 1);
        }
        String port = uri.getPort() < 0 ? "" : ":" + uri.getPort();
        return scheme + "://" + uri.getHost().toLowerCase(Locale.ROOT) + port + path;
    }
}
