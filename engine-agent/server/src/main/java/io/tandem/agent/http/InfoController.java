package io.tandem.agent.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.MediaType;
import io.micronaut.http.MutableHttpResponse;
import io.micronaut.http.annotation.Body;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Get;
import io.micronaut.http.annotation.Post;
import io.micronaut.http.annotation.Produces;
import io.micronaut.scheduling.TaskExecutors;
import io.micronaut.scheduling.annotation.ExecuteOn;
import io.tandem.agent.errors.BadParameterException;
import io.tandem.agent.lifecycle.AgentEngine;
import io.tandem.agent.lifecycle.WeightUpdates;
import io.tandem.agent.metrics.VllmMetrics;
import io.tandem.agent.service.RequestMapper;
import io.tandem.engine.scheduler.EngineStats;
import io.tandem.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Model, tokenizer and health endpoints: /v1/models, /v1/encode (LMDeploy), /tokenize and /detokenize (vLLM),
 * /health, /ping (SageMaker), /load, /version, /metrics. The cheap ones (health, ping, load, version, models)
 * run on the event loop; those that tokenize run on the blocking executor.
 */
@Controller
public class InfoController {
    /** The version this agent reports in /version. */
    public static final String VERSION = "0.1.0";

    private final AgentEngine agent;
    private final RequestMapper mapper;
    private final VllmMetrics metrics;
    private final Json json;
    private final WeightUpdates weights;

    public InfoController(AgentEngine agent, RequestMapper mapper, VllmMetrics metrics, Json json,
                          WeightUpdates weights) {
        this.agent = agent;
        this.weights = weights;
        this.mapper = mapper;
        this.metrics = metrics;
        this.json = json;
    }

    @Get("/v1/models")
    public Map<String, Object> models() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", agent.servedName());
        m.put("object", "model");
        m.put("created", agent.started().getEpochSecond());
        m.put("owned_by", "tandem");
        m.put("root", agent.servedName());
        m.put("parent", null);
        m.put("max_model_len", agent.engine().maxModelLen());
        m.put("permission", List.of());
        return Map.of("object", "list", "data", List.of(m));
    }

    /** 200 while serving, 503 once shutting down; the {@value WeightUpdates#HEADER} header names the weights in use. */
    @Get("/health")
    public MutableHttpResponse<?> health() {
        MutableHttpResponse<?> r = agent.draining()
                ? HttpResponse.status(io.micronaut.http.HttpStatus.SERVICE_UNAVAILABLE).body(Map.of("status", "shutting down"))
                : HttpResponse.ok(Map.of());
        return r.header(WeightUpdates.HEADER, weights.version());
    }

    @Get("/ping")
    public MutableHttpResponse<?> ping() {
        return health();
    }

    @Post("/ping")
    public MutableHttpResponse<?> pingPost() {
        return health();
    }

    @Get("/load")
    public Map<String, Object> load() {
        EngineStats s = agent.engine().stats();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("server_load", s.running() + s.waiting());
        m.put("num_requests_running", s.running());
        m.put("num_requests_waiting", s.waiting());
        m.put("kv_blocks_used", s.kvBlocksUsed());
        m.put("kv_blocks_total", s.kvBlocksTotal());
        return m;
    }

    @Get("/version")
    public Map<String, Object> version() {
        return Map.of("version", VERSION);
    }

    @Get("/metrics")
    @Produces("text/plain; version=0.0.4; charset=utf-8")
    public String metrics() {
        return metrics.scrape();
    }

    /** LMDeploy's /v1/encode: {@code input} string or list; {@code do_preprocess} applies the chat template. */
    @Post(uri = "/v1/encode", consumes = MediaType.ALL)
    @ExecuteOn(TaskExecutors.BLOCKING)
    public Map<String, Object> encode(@Body String body) {
        JsonNode req = json.read(body, JsonNode.class);
        JsonNode input = req.get("input");
        boolean preprocess = req.path("do_preprocess").asBoolean(false);
        boolean addBos = req.path("add_bos").asBoolean(true);
        if (input == null || !(input.isTextual() || input.isArray())) {
            throw new BadParameterException("input: expected a string or a list of strings", "input");
        }
        if (input.isTextual()) {
            int[] ids = encodeOne(input.asText(), preprocess, addBos);
            return Map.of("input_ids", ChoiceState.boxed(ids), "length", ids.length);
        }
        List<List<Integer>> all = new ArrayList<>();
        List<Integer> lengths = new ArrayList<>();
        for (JsonNode s : input) {
            if (!s.isTextual()) {
                throw new BadParameterException("input: every entry must be a string", "input");
            }
            int[] ids = encodeOne(s.asText(), preprocess, addBos);
            all.add(ChoiceState.boxed(ids));
            lengths.add(ids.length);
        }
        return Map.of("input_ids", all, "length", lengths);
    }

    private int[] encodeOne(String text, boolean preprocess, boolean addBos) {
        if (preprocess) {
            return mapper.chatPrompt(json.mapper().getNodeFactory().textNode(text), null, null, null).ids();
        }
        return mapper.tokenizer().encode(text, addBos, false);
    }

    /** vLLM's /tokenize: {@code prompt} (with add_special_tokens) or chat {@code messages}. */
    @Post(uri = "/tokenize", consumes = MediaType.ALL)
    @ExecuteOn(TaskExecutors.BLOCKING)
    public Map<String, Object> tokenize(@Body String body) {
        JsonNode req = json.read(body, JsonNode.class);
        mapper.checkModel(req.path("model").isTextual() ? req.get("model").asText() : null);
        int[] ids;
        if (req.has("messages")) {
            ids = mapper.chatPrompt(req.get("messages"), null, null, null).ids();
        } else if (req.path("prompt").isTextual()) {
            ids = mapper.tokenizer().encode(req.get("prompt").asText(), req.path("add_special_tokens").asBoolean(true),
                    false);
        } else {
            throw new BadParameterException("prompt: required (a string), or messages", "prompt");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("count", ids.length);
        out.put("max_model_len", agent.engine().maxModelLen());
        out.put("tokens", ChoiceState.boxed(ids));
        if (req.path("return_token_strs").asBoolean(false)) {
            Tokenizer tok = mapper.tokenizer();
            List<String> strs = new ArrayList<>();
            for (int id : ids) {
                strs.add(tok.tokenText(id));
            }
            out.put("token_strs", strs);
        }
        return out;
    }

    /** vLLM's /detokenize: {@code tokens} to {@code prompt}. */
    @Post(uri = "/detokenize", consumes = MediaType.ALL)
    @ExecuteOn(TaskExecutors.BLOCKING)
    public Map<String, Object> detokenize(@Body String body) {
        JsonNode req = json.read(body, JsonNode.class);
        mapper.checkModel(req.path("model").isTextual() ? req.get("model").asText() : null);
        JsonNode tokens = req.get("tokens");
        if (tokens == null || !tokens.isArray()) {
            throw new BadParameterException("tokens: required (a list of token ids)", "tokens");
        }
        int vocab = mapper.tokenizer().vocabSize();
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode v = tokens.get(i);
            if (!v.canConvertToInt() || v.asInt() < 0 || v.asInt() >= vocab) {
                throw new BadParameterException("tokens[" + i + "]: " + v + " (expected: 0.." + (vocab - 1) + ")", "tokens");
            }
            ids[i] = v.asInt();
        }
        return Map.of("prompt", mapper.tokenizer().decode(ids, false));
    }
}
