package io.tandem.proxy.http;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Post;
import io.tandem.proxy.routing.Router;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * The OpenAI routes. Runs on the event loop: the body is already aggregated, parsing it is short CPU work, and
 * everything after is asynchronous ({@link Router}), on the same event loop; a stream's bytes are written as the
 * node produces them.
 */
@Controller
public class GenerationController {
    private final Router router;
    private final io.tandem.controller.Controller controller;

    public GenerationController(Router router, io.tandem.controller.Controller controller) {
        this.router = router;
        this.controller = controller;
    }

    @Post(uri = "/v1/chat/completions", consumes = MediaType.ALL, produces = MediaType.ALL)
    public Mono<MutableHttpResponse<?>> chat(HttpRequest<?> request, @Body byte[] body) {
        return reply(router.handle("/v1/chat/completions", body, Inbound.channel(request)));
    }

    @Post(uri = "/v1/completions", consumes = MediaType.ALL, produces = MediaType.ALL)
    public Mono<MutableHttpResponse<?>> completions(HttpRequest<?> request, @Body byte[] body) {
        return reply(router.handle("/v1/completions", body, Inbound.channel(request)));
    }

    /** The union of the nodes' models, as OpenAI's model list. */
    @Get("/v1/models")
    public Map<String, Object> models() {
        long created = Instant.now().getEpochSecond();
        List<Map<String, Object>> data = controller.models().stream()
                .<Map<String, Object>>map(m -> Map.of("id", m, "object", "model", "created", created,
                        "owned_by", "tandem", "root", m, "permission", List.of()))
                .toList();
        return Map.of("object", "list", "data", data);
    }

    private static Mono<MutableHttpResponse<?>> reply(Mono<Router.Reply> reply) {
        return reply.map(r -> {
            MutableHttpResponse<Object> resp = HttpResponse.status(io.micronaut.http.HttpStatus.OK);
            resp.status(r.status());
            resp.contentType(r.contentType());
            return r.whole() != null ? resp.body(r.whole()) : resp.body(Flux.from(r.stream()));
        });
    }

}
