package io.tandem.proxy.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Post;
import io.tandem.controller.grpc.NodeCommand;
import io.tandem.controller.registry.NodeSpec;
import io.tandem.proxy.errors.BadRequestException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import reactor.core.publisher.Mono;

/**
 * Operator commands for attached agents, sent down their ClusterControl stream: {@code POST /nodes/drain}
 * ({@code {"url", "deadline_ms"}}; also takes the node out of rotation, attached or not), {@code /nodes/undrain}
 * (back into rotation), {@code /nodes/sleep} ({@code {"url", "level"}}) and {@code /nodes/wakeup}
 * ({@code {"url", "tags"}}). They answer when the agent has answered: 503 when the node is not attached, 502 when
 * the agent reports a failure. Admin routes ({@code /nodes/*}): guarded by the admin key.
 */
@Controller("/nodes")
public class NodeCommandsController {
    private final io.tandem.controller.Controller controller;
    private final ObjectMapper json = new ObjectMapper();

    public NodeCommandsController(io.tandem.controller.Controller controller) {
        this.controller = controller;
    }

    @Post(uri = "/drain", consumes = MediaType.ALL)
    public Mono<String> drain(@Body byte[] body) {
        JsonNode req = parse(body);
        long deadline = req.path("deadline_ms").asLong(0);
        if (deadline < 0) {
            throw new BadRequestException("deadline_ms: " + deadline + " (expected: >= 0, 0 = no deadline)");
        }
        return Mono.fromFuture(controller.drain(url(req), Duration.ofMillis(deadline))).thenReturn("\"Draining\"");
    }

    @Post(uri = "/undrain", consumes = MediaType.ALL)
    public Mono<String> undrain(@Body byte[] body) {
        return Mono.fromFuture(controller.undrainAsIs(url(parse(body)))).thenReturn("\"Undrained\"");
    }

    @Post(uri = "/sleep", consumes = MediaType.ALL)
    public Mono<String> sleep(@Body byte[] body) {
        JsonNode req = parse(body);
        int level = req.path("level").asInt(1);
        if (level != 1 && level != 2) {
            throw new BadRequestException("level: " + req.path("level") + " (expected: 1 or 2)");
        }
        return Mono.fromFuture(controller.sendCommand(url(req), new NodeCommand.Sleep(level))).thenReturn("\"Asleep\"");
    }

    @Post(uri = "/wakeup", consumes = MediaType.ALL)
    public Mono<String> wakeup(@Body byte[] body) {
        JsonNode req = parse(body);
        List<String> tags = new ArrayList<>();
        req.path("tags").forEach(t -> tags.add(t.asText()));
        return Mono.fromFuture(controller.sendCommand(url(req), new NodeCommand.WakeUp(tags))).thenReturn("\"Awake\"");
    }

    private JsonNode parse(byte[] body) {
        try {
            JsonNode n = json.readTree(body);
            if (n == null || !n.isObject()) {
                throw new BadRequestException("body: expected a JSON object like {\"url\": \"http://host:port\"}");
            }
            return n;
        } catch (IOException e) {
            throw new BadRequestException("body: not JSON (" + e.getMessage() + ")");
        }
    }

    private static String url(JsonNode req) {
        String url = req.path("url").asText("");
        if (url.isBlank()) {
            throw new BadRequestException("url: required (expected: {\"url\": \"http://host:port\"})");
        }
        return NodeSpec.normalizeUrl(url);
    }
}
