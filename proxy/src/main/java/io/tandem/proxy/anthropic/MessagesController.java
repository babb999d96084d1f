package io.tandem.proxy.anthropic;

import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Post;
import io.tandem.proxy.http.Inbound;
import io.tandem.proxy.routing.Router;
import java.io.IOException;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code POST /v1/messages}: Anthropic's Messages API over the OpenAI chat route ({@link MessagesTranslator},
 * {@link StreamTranslator}). Routing, retries before the first byte and abort on client disconnect are the
 * {@link Router}'s, as for {@code /v1/chat/completions}. Runs on the event loop like the OpenAI routes: parsing
 * is short CPU work and the rest is asynchronous. Every failure answers an Anthropic error body.
 */
@Controller
public class MessagesController {
    private final Router router;

    public MessagesController(Router router) {
        this.router = router;
    }

    @Post(uri = "/v1/messages", consumes = MediaType.ALL, produces = MediaType.ALL)
    public Mono<MutableHttpResponse<?>> messages(HttpRequest<?> request, @Body byte[] body) {
        return Mono.defer(() -> {
            MessagesTranslator.Translated t = MessagesTranslator.request(body);
            return router.handle("/v1/chat/completions", t.openAiBody(), Inbound.channel(request)).<MutableHttpResponse<?>>map(r -> answer(t, r));
        }).onErrorResume(e -> Mono.<MutableHttpResponse<?>>just(AnthropicErrors.fromThrowable(e)));
    }

    private static MutableHttpResponse<?> answer(MessagesTranslator.Translated t, Router.Reply r) {
        if (r.status() >= 400) {
            return r.whole() != null ? AnthropicErrors.fromNode(r.status(), r.whole())
                    : AnthropicErrors.response(r.status(), AnthropicErrors.typeOf(r.status()), "the node answered " + r.status());
        }
        if (r.whole() != null) {
            try {
                return HttpResponse.ok(MessagesTranslator.response(r.whole(), t.model()).toString())
                        .contentType(MediaType.APPLICATION_JSON_TYPE);
            } catch (IOException e) {
                return AnthropicErrors.response(502, "api_error", "the node's answer is not JSON: " + e.getMessage());
            }
        }
        StreamTranslator s = new StreamTranslator(t.model());
        Flux<byte[]> events = Flux.concat(
                Mono.fromSupplier(() -> s.start("")),
                Flux.from(r.stream()).map(s::next).filter(b -> b.length > 0),
                Mono.fromSupplier(s::finish).filter(b -> b.length > 0));
        return HttpResponse.ok(events).contentType(MediaType.TEXT_EVENT_STREAM_TYPE);
    }
}
