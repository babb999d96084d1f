package io.tandem.agent.http;

import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Post;
import io.micronaut.http.sse.Event;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.agent.api.ChatCompletion;
import io.tandem.agent.api.ChatCompletionChunk;
import io.tandem.agent.api.ChatCompletionRequest;
import io.tandem.agent.api.Usage;
import io.tandem.agent.distserve.DistServeService;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.service.GenerationEvent;
import io.tandem.agent.service.GenerationService;
import io.tandem.agent.service.ReasoningSplitter;
import io.tandem.agent.service.RequestMapper;
import io.tandem.agent.service.StructuredOutput;
import io.tandem.engine.sampling.LogitsMask;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import io.tandem.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code POST /v1/chat/completions}. Runs on the blocking executor because rendering the chat template and
 * tokenizing are CPU work; generation itself is asynchronous and the answer (a single JSON body, or an SSE stream
 * ending with {@code data: [DONE]}) is produced reactively from the engine's events, so no thread waits on it.
 * Cancelling the response (client disconnect) aborts the engine requests.
 *
 * <p>DistServe: on a prefill agent, {@code with_cache}/{@code preserve_cache} keep the request's KV blocks and
 * the answer adds {@code cache_block_ids} and {@code remote_token_ids} (its id is the session id, as LMDeploy's);
 * on a decode agent, {@code migration_request} pulls those blocks instead of prefilling, and a streamed answer
 * starts only once they have arrived, so that a failed pull answers 502/504. See {@link DistServeService}.
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class ChatController {
    static final int MAX_N = 16;

    private final RequestMapper mapper;
    private final GenerationService generation;
    private final StructuredOutput structured;
    private final DistServeService dist;
    private final Json json;

    public ChatController(RequestMapper mapper, GenerationService generation, StructuredOutput structured,
                          DistServeService dist, Json json) {
        this.mapper = mapper;
        this.generation = generation;
        this.structured = structured;
        this.dist = dist;
        this.json = json;
    }

    @Post(uri = "/v1/chat/completions", consumes = MediaType.ALL, produces = {MediaType.APPLICATION_JSON, MediaType.TEXT_EVENT_STREAM})
    public Mono<MutableHttpResponse<?>> chat(@Body String body, HttpRequest<?> http) {
        return chat(json.read(body, ChatCompletionRequest.class), http);
    }

    Mono<MutableHttpResponse<?>> chat(ChatCompletionRequest req, HttpRequest<?> http) {
        mapper.checkModel(req.model());
        int n = req.n() == null ? 1 : req.n();
        if (n < 1 || n > MAX_N) {
            throw new BadParameterException("n: " + n + " (expected: 1.." + MAX_N + ")", "n");
        }
        if (req.topLogprobs() != null && !Boolean.TRUE.equals(req.logprobs())) {
            throw new BadParameterException("top_logprobs: requires logprobs=true", "top_logprobs");
        }
        RequestMapper.ChatPrompt prompt = mapper.chatPrompt(req.messages(), req.enableThinking(),
                req.chatTemplateKwargs(), req.tools());
        Integer maxTokens = req.maxCompletionTokens() != null ? req.maxCompletionTokens() : req.maxTokens();
        String maxParam = req.maxCompletionTokens() != null ? "max_completion_tokens" : "max_tokens";
        Integer logprobs = Boolean.TRUE.equals(req.logprobs()) ? (req.topLogprobs() == null ? 0 : req.topLogprobs()) : null;
        if (logprobs != null && (logprobs < 0 || logprobs > SamplingParams.MAX_LOGPROBS)) {
            throw new BadParameterException("top_logprobs: " + logprobs + " (expected: 0.." + SamplingParams.MAX_LOGPROBS + ")",
                    "top_logprobs");
        }
        SamplingParams params = mapper.sampling(new RequestMapper.Sampling(req.temperature(), req.topP(), req.topK(),
                req.minP(), req.repetitionPenalty(), req.presencePenalty(), req.frequencyPenalty(), req.seed(),
                req.stop(), req.stopTokenIds(), req.ignoreEos(),
                req.minNewTokens() != null ? req.minNewTokens() : req.minTokens(), maxTokens, maxParam, logprobs,
                req.skipSpecialTokens()), prompt.ids().length);
        boolean stream = Boolean.TRUE.equals(req.stream());
        DistServeService.Prefill prefill = dist.prefill(http, req.withCache(), req.preserveCache(), req.sessionId(),
                n, stream);
        DistServeService.Migration migration = dist.migration(http, req.migrationRequest(), prompt.ids(), n);
        if (prefill != null && migration != null) {
            throw new BadParameterException("migration_request: cannot be combined with preserve_cache/with_cache",
                    "migration_request");
        }
        // LMDeploy's id is the session id; its proxy reads a prefill's session back from it.
        String id = prefill != null ? Long.toString(prefill.sessionId())
                : "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
        List<GenerationRequest> requests = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            // n > 1: independent requests; a fixed seed is offset per choice so the choices differ.
            SamplingParams p = params.seed() != null && i > 0 ? params.toBuilder().seed(params.seed() + i).build() : params;
            GenerationRequest r = GenerationRequest.of(prefill != null ? prefill.requestId() : id + "-" + i,
                    prompt.ids(), p);
            if (prefill != null) {
                r = r.withKeepCache(true);
            } else if (migration != null) {
                r = r.withMigration(migration.prefill());
            }
            LogitsMask mask = structured.mask(req.responseFormat());
            if (mask != null) {
                r = r.withMask(mask);
            }
            requests.add(r);
        }
        long created = System.currentTimeMillis() / 1000;
        String model = mapper.servedName();
        boolean returnIds = Boolean.TRUE.equals(req.returnTokenIds());
        boolean includeStop = Boolean.TRUE.equals(req.includeStopStrInOutput());
        List<ChoiceState> states = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            states.add(new ChoiceState(mapper.reasoningSplitter(prompt.startsInReasoning())));
        }
        CompletableFuture<Void> started = migration != null && stream ? new CompletableFuture<>() : null;
        Flux<GenerationEvent> events = generation.submit(requests,
                prefill != null ? Long.valueOf(prefill.sessionId()) : req.sessionId(), started);
        Tokenizer tok = mapper.tokenizer();
        List<Integer> promptIds = returnIds ? ChoiceState.boxed(prompt.ids()) : null;

        if (stream) {
            boolean usage = req.streamOptions() != null && Boolean.TRUE.equals(req.streamOptions().includeUsage());
            List<Event<String>> head = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                head.add(event(new ChatCompletionChunk(id, "chat.completion.chunk", created, model,
                        List.of(new ChatCompletionChunk.Choice(i, new ChatCompletionChunk.Delta("assistant", "", null),
                                null, null, null)), null, i == 0 ? promptIds : null)));
            }
            Flux<Event<String>> body = Flux.fromIterable(head)
                    .concatWith(events.concatMap(e -> Flux.fromIterable(
                            chunks(e, states, tok, id, created, model, logprobs != null, returnIds, includeStop))))
                    .concatWith(Flux.defer(() -> usage ? Flux.just(event(new ChatCompletionChunk(id,
                            "chat.completion.chunk", created, model, List.of(), usage(states), null))) : Flux.empty()))
                    .concatWith(Flux.just(Event.of("[DONE]")));
            Mono<MutableHttpResponse<?>> response = Mono.just(HttpResponse.ok(body)
                    .contentType(MediaType.TEXT_EVENT_STREAM_TYPE));
            return started == null ? response : generation.started(started, requests, events).then(response);
        }
        return events.doOnNext(e -> accumulate(e, states)).then(Mono.fromSupplier(() -> {
            List<ChatCompletion.Choice> choices = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                ChoiceState s = states.get(i);
                GenerationResult r = s.result;
                String content = s.content.toString();
                if (includeStop && r.stopReason() instanceof String stop) {
                    content += stop;
                }
                ChatCompletion.ChatLogprobs lp = logprobs == null ? null : new ChatCompletion.ChatLogprobs(
                        s.tokens.stream().map(t -> ChoiceState.chatLogprob(tok, t)).toList());
                choices.add(new ChatCompletion.Choice(i, new ChatCompletion.Message("assistant", content,
                        s.splitter == null || s.reasoning.isEmpty() ? null : s.reasoning.toString(), null),
                        lp, r.finishReason().wireName(), r.stopReason(), returnIds ? ChoiceState.boxed(r.outputTokens()) : null));
            }
            DistServeService.CacheInfo cache = prefill == null ? null : dist.cacheInfo(prefill);
            return HttpResponse.ok(new ChatCompletion(id, "chat.completion", created, model, choices, usage(states),
                    promptIds, cache == null ? null : cache.cacheBlockIds(),
                    cache == null ? null : cache.remoteTokenIds()));
        }));
    }

    private static void accumulate(GenerationEvent e, List<ChoiceState> states) {
        ChoiceState s = states.get(e.index());
        switch (e) {
            case GenerationEvent.Token t -> {
                ReasoningSplitter.Part part = s.split(t.token());
                s.reasoning.append(part.reasoning());
                s.content.append(part.content());
                s.tokens.add(t.token());
            }
            case GenerationEvent.Finished f -> s.result = f.result();
        }
    }

    private List<Event<String>> chunks(GenerationEvent e, List<ChoiceState> states, Tokenizer tok, String id,
                                       long created, String model, boolean logprobs, boolean returnIds,
                                       boolean includeStop) {
        ChoiceState s = states.get(e.index());
        switch (e) {
            case GenerationEvent.Token t -> {
                TokenOutput out = t.token();
                ReasoningSplitter.Part part = s.split(out);
                s.tokens.add(out);
                if (part.reasoning().isEmpty() && part.content().isEmpty() && !logprobs && !returnIds) {
                    return List.of();
                }
                ChatCompletion.ChatLogprobs lp = logprobs
                        ? new ChatCompletion.ChatLogprobs(List.of(ChoiceState.chatLogprob(tok, out))) : null;
                return List.of(event(new ChatCompletionChunk(id, "chat.completion.chunk", created, model,
                        List.of(new ChatCompletionChunk.Choice(e.index(), new ChatCompletionChunk.Delta(null,
                                part.content().isEmpty() && !part.reasoning().isEmpty() ? null : part.content(),
                                part.reasoning().isEmpty() ? null : part.reasoning()),
                                lp, null, returnIds ? List.of(out.tokenId()) : null)), null, null)));
            }
            case GenerationEvent.Finished f -> {
                s.result = f.result();
                String tail = includeStop && f.result().stopReason() instanceof String stop ? stop : null;
                return List.of(event(new ChatCompletionChunk(id, "chat.completion.chunk", created, model,
                        List.of(new ChatCompletionChunk.Choice(e.index(), new ChatCompletionChunk.Delta(null, tail, null),
                                null, f.result().finishReason().wireName(), null)), null, null)));
            }
        }
    }

    private static Usage usage(List<ChoiceState> states) {
        int prompt = 0;
        int completion = 0;
        for (ChoiceState s : states) {
            if (s.result != null) {
                prompt = s.result.promptTokens();
                completion += s.result.outputTokens().length;
            }
        }
        return Usage.of(prompt, completion);
    }

    private Event<String> event(Object chunk) {
        return Event.of(json.write(chunk));
    }
}
