package io.tandem.proxy.http;

import java.util.LinkedHashMap;
import java.util.Map;

import io.micronaut.http.MediaType;
import io.micronaut.http.annotation.Controller;
import io.micronaut.http.annotation.Post;
import reactor.core.publisher.Mono;

/** {@code /distserve/connection_warmup} and {@code /distserve/gc}. Guarded by the admin key. */
@Controller("/distserve")
public class DistServeController {
    private final io.tandem.controller.Controller controller;

    public DistServeController(io.tandem.controller.Controller controller) {
        this.controller = controller;
    }

    /** Connects every routable prefill x decode pair; reports each. */
    @Post(uri = "/connection_warmup", consumes = MediaType.ALL)
    public Mono<Map<String, Object>> connectionWarmup() {
        return Mono.fromFuture(controller.connectionWarmup()).map(results -> Map.of("pairs", results.stream()
                .map(r -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("prefill", r.prefillUrl());
                    m.put("decode", r.decodeUrl());
                    m.put("connected", r.connected());
                    m.put("error", r.error());
                    m.put("elapsed_ms", r.elapsed().toMillis());
                    return m;
                }).toList()));
    }

    /** Frees prefill blocks whose decode never came (sessions older than the session lease). */
    @Post(uri = "/gc", consumes = MediaType.ALL)
    public Mono<Map<String, Object>> gc() {
        return Mono.fromFuture(controller.gc()).map(freed -> Map.of("freed", freed.size(), "sessions",
                freed.stream().map(s -> Map.<String, Object>of("session_id", s.sessionId(), "prefill",
                        s.prefillUrl(), "decode", s.decodeUrl())).toList()));
    }

}
