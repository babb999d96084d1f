package io.tandem.agent.http;

import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Post;
import io.micronaut.http.sse.Event;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.agent.api.GenerateRequest;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.service.GenerationEvent;
import io.tandem.agent.service.GenerationService;
import io.tandem.agent.service.RequestMapper;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * LMDeploy's {@code POST /generate}: {@code {text, output_ids, meta_info:{id, finish_reason:{type}, prompt_tokens,
 * completion_tokens, output_token_logprobs}}}; streamed, each event carries the new text and ids, and the last
 * one the finish reason.
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class GenerateController {
    private final RequestMapper mapper;
    private final GenerationService generation;
    private final Json json;

    public GenerateController(RequestMapper mapper, GenerationService generation, Json json) {
        this.mapper = mapper;
        this.generation = generation;
        this.json = json;
    }

    @Post(uri = "/generate", consumes = MediaType.ALL, produces = {MediaType.APPLICATION_JSON, MediaType.TEXT_EVENT_STREAM})
    public Mono<MutableHttpResponse<?>> generate(@Body String body) {
        GenerateRequest req = json.read(body, GenerateRequest.class);
        if (req.imageData() != null && !req.imageData().isNull()) {
            throw new BadParameterException("image_data: this model has no vision", "image_data");
        }
        int[] ids;
        if (req.inputIds() != null && !req.inputIds().isEmpty()) {
            int vocab = mapper.tokenizer().vocabSize();
            ids = new int[req.inputIds().size()];
            for (int i = 0; i < ids.length; i++) {
                Integer v = req.inputIds().get(i);
                if (v == null || v < 0 || v >= vocab) {
                    throw new BadParameterException("input_ids[" + i + "]: " + v + " (expected: 0.." + (vocab - 1) + ")",
                            "input_ids");
                }
                ids[i] = v;
            }
        } else if (req.prompt() != null) {
            ids = mapper.tokenizer().encode(req.prompt(), true, true);
        } else {
            throw new BadParameterException("prompt or input_ids: one is required", "prompt");
        }
        boolean logprob = Boolean.TRUE.equals(req.returnLogprob());
        SamplingParams params = mapper.sampling(new RequestMapper.Sampling(req.temperature(), req.topP(), req.topK(),
                req.minP(), req.repetitionPenalty(), null, null, req.seed(), req.stop(), req.stopTokenIds(),
                req.ignoreEos(), null, req.maxTokens() == null ? 128 : req.maxTokens(), "max_tokens",
                logprob ? 0 : null, req.skipSpecialTokens()), ids.length);
        String id = "gen-" + UUID.randomUUID().toString().replace("-", "");
        boolean includeStop = Boolean.TRUE.equals(req.includeStopStrInOutput());
        Flux<GenerationEvent> events = generation.submit(List.of(GenerationRequest.of(id, ids, params)), req.sessionId());
        int promptLen = ids.length;
        if (Boolean.TRUE.equals(req.stream())) {
            int[] count = {0};
            Flux<Event<String>> stream = events.map(e -> switch (e) {
                case GenerationEvent.Token t -> {
                    count[0]++;
                    TokenOutput o = t.token();
                    yield Event.of(json.write(output(id, o.text(), List.of(o.tokenId()), null, promptLen, count[0],
                            logprob ? List.of(List.of((double) o.logprob(), (double) o.tokenId())) : null)));
                }
                case GenerationEvent.Finished f -> Event.of(json.write(output(id,
                        includeStop && f.result().stopReason() instanceof String s ? s : "", List.of(),
                        f.result().finishReason().wireName(), promptLen, f.result().outputTokens().length, null)));
            });
            return Mono.just(HttpResponse.ok(stream.concatWith(Flux.just(Event.of("[DONE]"))))
                    .contentType(MediaType.TEXT_EVENT_STREAM_TYPE));
        }
        List<TokenOutput> tokens = new ArrayList<>();
        GenerationResult[] result = new GenerationResult[1];
        return events.doOnNext(e -> {
            switch (e) {
                case GenerationEvent.Token t -> tokens.add(t.token());
                case GenerationEvent.Finished f -> result[0] = f.result();
            }
        }).then(Mono.fromSupplier(() -> {
            GenerationResult r = result[0];
            String text = r.text() + (includeStop && r.stopReason() instanceof String s ? s : "");
            return HttpResponse.ok(output(id, text, ChoiceState.boxed(r.outputTokens()), r.finishReason().wireName(),
                    promptLen, r.outputTokens().length, logprob ? tokens.stream()
                            .map(t -> List.of((double) t.logprob(), (double) t.tokenId())).toList() : null));
        }));
    }

    private static Map<String, Object> output(String id, String text, List<Integer> outputIds, String finish,
                                              int promptTokens, int completionTokens, List<List<Double>> logprobs) {
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("id", id);
        meta.put("finish_reason", finish == null ? null : Map.of("type", finish));
        meta.put("prompt_tokens", promptTokens);
        meta.put("completion_tokens", completionTokens);
        if (logprobs != null) {
            meta.put("output_token_logprobs", logprobs);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("text", text);
        out.put("output_ids", outputIds);
        out.put("meta_info", meta);
        return out;
    }
}
