package io.tandem.agent.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Post;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.agent.distserve.DistServeService;
import io.tandem.agent.errors.BadParameterException;
import java.util.Map;

/**
 * LMDeploy's DistServe endpoints: {@code GET /distserve/engine_info}, {@code POST /distserve/p2p_initialize},
 * {@code /p2p_connect}, {@code /p2p_drop_connect}, {@code /free_cache}. {@link AuthFilter} lets only cluster
 * members reach them. Connecting waits for the UCX wire-up (milliseconds, at most seconds), so they run on the
 * blocking executor.
 */
@Controller("/distserve")
@ExecuteOn(TaskExecutors.BLOCKING)
public class DistServeController {
    private final DistServeService dist;
    private final Json json;

    public DistServeController(DistServeService dist, Json json) {
        this.dist = dist;
        this.json = json;
    }

    /** The engine config JSON-encoded into a JSON string (LMDeploy answers {@code model_dump_json()}). */
    @Get(uri = "/engine_info", produces = MediaType.APPLICATION_JSON)
    public HttpResponse<String> engineInfo() {
        return HttpResponse.ok(json.write(json.write(dist.engineInfo()))).contentType(MediaType.APPLICATION_JSON_TYPE);
    }

    @Post(uri = "/p2p_initialize", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Map<String, Object> initialize(@Body String body) {
        return dist.initialize(object(body));
    }

    @Post(uri = "/p2p_connect", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Map<String, Object> connect(@Body String body) {
        return dist.connect(object(body));
    }

    @Post(uri = "/p2p_drop_connect", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Map<String, Object> dropConnect(@Body String body) {
        return dist.dropConnect(object(body));
    }

    @Post(uri = "/free_cache", consumes = MediaType.ALL, produces = MediaType.APPLICATION_JSON)
    public Map<String, Object> freeCache(@Body String body) {
        return dist.freeCache(object(body));
    }

    private JsonNode object(String body) {
        JsonNode node = json.read(body, JsonNode.class);
        if (!node.isObject()) {
            throw new BadParameterException("body: expected a JSON object, got " + node.getNodeType(), "body");
        }
        return node;
    }
}
