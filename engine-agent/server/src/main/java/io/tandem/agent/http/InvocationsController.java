package io.tandem.agent.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Post;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.agent.api.ChatCompletionRequest;
import io.tandem.agent.api.CompletionRequest;
import io.tandem.agent.errors.BadParameterException;
import reactor.core.publisher.Mono;

/**
 * SageMaker's {@code POST /invocations}: a body with {@code messages} is a chat completion, one with
 * {@code prompt} a completion (as vLLM routes it).
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class InvocationsController {
    private final ChatController chat;
    private final CompletionController completions;
    private final Json json;

    public InvocationsController(ChatController chat, CompletionController completions, Json json) {
        this.chat = chat;
        this.completions = completions;
        this.json = json;
    }

    @Post(uri = "/invocations", consumes = MediaType.ALL, produces = {MediaType.APPLICATION_JSON, MediaType.TEXT_EVENT_STREAM})
    public Mono<MutableHttpResponse<?>> invoke(@Body String body, io.micronaut.http.HttpRequest<?> http) {
        JsonNode node = json.read(body, JsonNode.class);
        if (node.has("messages")) {
            return chat.chat(json.mapper().convertValue(node, ChatCompletionRequest.class), http);
        }
        if (node.has("prompt")) {
            return completions.complete(json.mapper().convertValue(node, CompletionRequest.class), http);
        }
        throw new BadParameterException("body: expected 'messages' (chat) or 'prompt' (completion)", "messages");
    }
}
