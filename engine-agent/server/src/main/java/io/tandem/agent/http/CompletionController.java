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
import io.tandem.agent.api.Completion;
import io.tandem.agent.api.CompletionRequest;
import io.tandem.agent.api.Usage;
import io.tandem.agent.distserve.DistServeService;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.service.GenerationEvent;
import io.tandem.agent.service.GenerationService;
import io.tandem.agent.service.RequestMapper;
import io.tandem.engine.sampling.SamplingParams;
import io.tandem.engine.sampling.TopLogprob;
import io.tandem.engine.scheduler.GenerationRequest;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import io.tandem.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code POST /v1/completions}: raw prompts (text or token ids, one or several), n choices each, legacy logprobs,
 * echo, SSE streaming. Same threading as {@link ChatController}; DistServe fields as there.
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class CompletionController {
    private final RequestMapper mapper;
    private final GenerationService generation;
    private final DistServeService dist;
    private final Json json;

    public CompletionController(RequestMapper mapper, GenerationService generation, DistServeService dist, Json json) {
        this.mapper = mapper;
        this.generation = generation;
        this.dist = dist;
        this.json = json;
    }

    @Post(uri = "/v1/completions", consumes = MediaType.ALL, produces = {MediaType.APPLICATION_JSON, MediaType.TEXT_EVENT_STREAM})
    public Mono<MutableHttpResponse<?>> complete(@Body String body, HttpRequest<?> http) {
        return complete(json.read(body, CompletionRequest.class), http);
    }

    Mono<MutableHttpResponse<?>> complete(CompletionRequest req, HttpRequest<?> http) {
        mapper.checkModel(req.model());
        int n = req.n() == null ? 1 : req.n();
        if (n < 1 || n > ChatController.MAX_N) {
            throw new BadParameterException("n: " + n + " (expected: 1.." + ChatController.MAX_N + ")", "n");
        }
        if (req.suffix() != null && !req.suffix().isEmpty()) {
            throw new BadParameterException("suffix: not supported by this model (no fill-in-the-middle)", "suffix");
        }
        Integer logprobs = req.logprobs();
        if (logprobs != null && (logprobs < 0 || logprobs > SamplingParams.MAX_LOGPROBS)) {
            throw new BadParameterException("logprobs: " + logprobs + " (expected: 0.." + SamplingParams.MAX_LOGPROBS + ")",
                    "logprobs");
        }
        List<int[]> prompts = mapper.completionPrompts(req.prompt());
        Integer maxTokens = req.maxCompletionTokens() != null ? req.maxCompletionTokens() : req.maxTokens();
        String maxParam = req.maxCompletionTokens() != null ? "max_completion_tokens" : "max_tokens";
        boolean stream = Boolean.TRUE.equals(req.stream());
        DistServeService.Prefill prefill = dist.prefill(http, req.withCache(), req.preserveCache(), req.sessionId(),
                prompts.size() * n, stream);
        DistServeService.Migration migration = dist.migration(http, req.migrationRequest(), prompts.get(0),
                prompts.size() * n);
        if (prefill != null && migration != null) {
            throw new BadParameterException("migration_request: cannot be combined with preserve_cache/with_cache",
                    "migration_request");
        }
        // LMDeploy's id is the session id; its proxy reads a prefill's session back from it.
        String id = prefill != null ? Long.toString(prefill.sessionId())
                : "cmpl-" + UUID.randomUUID().toString().replace("-", "");
        List<GenerationRequest> requests = new ArrayList<>();
        for (int p = 0; p < prompts.size(); p++) {
            SamplingParams params = mapper.sampling(new RequestMapper.Sampling(req.temperature(), req.topP(),
                    req.topK(), req.minP(), req.repetitionPenalty(), req.presencePenalty(), req.frequencyPenalty(),
                    req.seed(), req.stop(), req.stopTokenIds(), req.ignoreEos(),
                    req.minNewTokens() != null ? req.minNewTokens() : req.minTokens(), maxTokens, maxParam, logprobs,
                    null), prompts.get(p).length);
            for (int i = 0; i < n; i++) {
                SamplingParams sp = params.seed() != null && i > 0 ? params.toBuilder().seed(params.seed() + i).build() : params;
                GenerationRequest r = GenerationRequest.of(prefill != null ? prefill.requestId() : id + "-" + (p * n + i),
                        prompts.get(p), sp);
                if (prefill != null) {
                    r = r.withKeepCache(true);
                } else if (migration != null) {
                    r = r.withMigration(migration.prefill());
                }
                requests.add(r);
            }
        }
        long created = System.currentTimeMillis() / 1000;
        String model = mapper.servedName();
        boolean echo = Boolean.TRUE.equals(req.echo());
        boolean returnIds = Boolean.TRUE.equals(req.returnTokenIds());
        boolean includeStop = Boolean.TRUE.equals(req.includeStopStrInOutput());
        Tokenizer tok = mapper.tokenizer();
        int choices = requests.size();
        List<ChoiceState> states = new ArrayList<>(choices);
        for (int i = 0; i < choices; i++) {
            states.add(new ChoiceState(null));
        }
        CompletableFuture<Void> started = migration != null && stream ? new CompletableFuture<>() : null;
        Flux<GenerationEvent> events = generation.submit(requests,
                prefill != null ? Long.valueOf(prefill.sessionId()) : req.sessionId(), started);

        if (stream) {
            boolean usage = req.streamOptions() != null && Boolean.TRUE.equals(req.streamOptions().includeUsage());
            List<Event<String>> head = new ArrayList<>();
            if (echo) {
                for (int i = 0; i < choices; i++) {
                    int[] ids = prompts.get(i / n);
                    head.add(event(new Completion(id, "text_completion", created, model, List.of(new Completion.Choice(
                            i, tok.decode(ids, true), null, null, null, returnIds ? ChoiceState.boxed(ids) : null, null)), null)));
                }
            }
            Flux<Event<String>> body = Flux.fromIterable(head)
                    .concatWith(events.concatMap(e -> {
                        ChoiceState s = states.get(e.index());
                        Completion.Choice c;
                        switch (e) {
                            case GenerationEvent.Token t -> {
                                s.tokens.add(t.token());
                                c = new Completion.Choice(e.index(), t.token().text(),
                                        logprobs == null ? null : legacyLogprobs(tok, List.of(t.token()), 0),
                                        null, null, null, returnIds ? List.of(t.token().tokenId()) : null);
                            }
                            case GenerationEvent.Finished f -> {
                                s.result = f.result();
                                String tail = includeStop && f.result().stopReason() instanceof String stop ? stop : "";
                                c = new Completion.Choice(e.index(), tail, null, f.result().finishReason().wireName(),
                                        f.result().stopReason(), null, null);
                            }
                        }
                        return Flux.just(event(new Completion(id, "text_completion", created, model, List.of(c), null)));
                    }))
                    .concatWith(Flux.defer(() -> usage ? Flux.just(event(new Completion(id, "text_completion",
                            created, model, List.of(), usage(states, prompts)))) : Flux.empty()))
                    .concatWith(Flux.just(Event.of("[DONE]")));
            Mono<MutableHttpResponse<?>> response = Mono.just(HttpResponse.ok(body)
                    .contentType(MediaType.TEXT_EVENT_STREAM_TYPE));
            return started == null ? response : generation.started(started, requests, events).then(response);
        }
        return events.doOnNext(e -> {
            ChoiceState s = states.get(e.index());
            switch (e) {
                case GenerationEvent.Token t -> s.tokens.add(t.token());
                case GenerationEvent.Finished f -> s.result = f.result();
            }
        }).then(Mono.fromSupplier(() -> {
            List<Completion.Choice> out = new ArrayList<>(choices);
            for (int i = 0; i < choices; i++) {
                ChoiceState s = states.get(i);
                GenerationResult r = s.result;
                int[] promptIds = prompts.get(i / n);
                String prefix = echo ? tok.decode(promptIds, true) : "";
                String text = prefix + r.text() + (includeStop && r.stopReason() instanceof String stop ? stop : "");
                out.add(new Completion.Choice(i, text,
                        logprobs == null ? null : legacyLogprobs(tok, s.tokens, prefix.length()),
                        r.finishReason().wireName(), r.stopReason(),
                        returnIds ? ChoiceState.boxed(promptIds) : null,
                        returnIds ? ChoiceState.boxed(r.outputTokens()) : null));
            }
            DistServeService.CacheInfo cache = prefill == null ? null : dist.cacheInfo(prefill);
            return HttpResponse.ok(new Completion(id, "text_completion", created, model, out, usage(states, prompts),
                    cache == null ? null : cache.cacheBlockIds(), cache == null ? null : cache.remoteTokenIds()));
        }));
    }

    static Completion.Logprobs legacyLogprobs(Tokenizer tok, List<TokenOutput> tokens, int offset) {
        List<String> strs = new ArrayList<>(tokens.size());
        List<Double> lps = new ArrayList<>(tokens.size());
        List<Map<String, Double>> tops = new ArrayList<>(tokens.size());
        List<Integer> offsets = new ArrayList<>(tokens.size());
        int pos = offset;
        for (TokenOutput t : tokens) {
            strs.add(ChoiceState.tokenString(tok, t.tokenId()));
            lps.add((double) t.logprob());
            Map<String, Double> top = new LinkedHashMap<>();
            if (t.top() != null) {
                for (TopLogprob tl : t.top()) {
                    top.putIfAbsent(ChoiceState.tokenString(tok, tl.token()), (double) tl.logprob());
                }
            }
            tops.add(top);
            offsets.add(pos);
            pos += t.text().length();
        }
        return new Completion.Logprobs(strs, lps, tops, offsets);
    }

    /** Prompt tokens count once per prompt, not once per choice (OpenAI's accounting). */
    private static Usage usage(List<ChoiceState> states, List<int[]> prompts) {
        int completion = 0;
        for (ChoiceState s : states) {
            if (s.result != null) {
                completion += s.result.outputTokens().length;
            }
        }
        return Usage.of(prompts.stream().mapToInt(p -> p.length).sum(), completion);
    }

    private Event<String> event(Object chunk) {
        return Event.of(json.write(chunk));
    }
}
