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
import io.tandem.agent.api.Completion;
import io.tandem.agent.api.CompletionRequest;
import io.tandem.agent.api.Usage;
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
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * {@code POST /v1/completions}: raw prompts (text or token ids, one or several), n choices each, legacy logprobs,
 * echo, SSE streaming. Same threading as {@link ChatController}.
 */
@Controller
@ExecuteOn(TaskExecutors.BLOCKING)
public class CompletionController {
    private final RequestMapper mapper;
    private final GenerationService generation;
    private final Json json;

    public CompletionController(RequestMapper mapper, GenerationService generation, Json json) {
        this.mapper = mapper;
        this.generation = generation;
        this.json = json;
    }

    @Post(uri = "/v1/completions", consumes = MediaType.ALL, produces = {MediaType.APPLICATION_JSON, MediaType.TEXT_EVENT_STREAM})
    public Mono<MutableHttpResponse<?>> complete(@Body String body) {
        return complete(json.read(body, CompletionRequest.class));
    }

    Mono<MutableHttpResponse<?>> complete(CompletionRequest req) {
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
        String id = "cmpl-" + UUID.randomUUID().toString().replace("-", "");
        List<GenerationRequest> requests = new ArrayList<>();
        for (int p = 0; p < prompts.size(); p++) {
            SamplingParams params = mapper.sampling(new RequestMapper.Sampling(req.temperature(), req.topP(),
                    req.topK(), req.minP(), req.repetitionPenalty(), req.presencePenalty(), req.frequencyPenalty(),
                    req.seed(), req.stop(), req.stopTokenIds(), req.ignoreEos(),
                    req.minNewTokens() != null ? req.minNewTokens() : req.minTokens(), maxTokens, maxParam, logprobs,
                    null), prompts.get(p).length);
            for (int i = 0; i < n; i++) {
                SamplingParams sp = params.seed() != null && i > 0 ? params.toBuilder().seed(params.seed() + i).build() : params;
                requests.add(GenerationRequest.of(id + "-" + (p * n + i), prompts.get(p), sp));
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
        Flux<GenerationEvent> events = generation.submit(requests, req.sessionId());

        if (Boolean.TRUE.equals(req.stream())) {
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
            return Mono.just(HttpResponse.ok(body).contentType(MediaType.TEXT_EVENT_STREAM_TYPE));
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
            return HttpResponse.ok(new Completion(id, "text_completion", created, model, out, usage(states, prompts)));
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
