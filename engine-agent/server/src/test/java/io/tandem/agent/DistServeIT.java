package io.tandem.agent;

import static io.tandem.agent.DistServe.JSON;
import static io.tandem.agent.DistServe.ok;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tandem.agent.DistServe.Pair;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Disaggregated prefill/decode through real agent processes on 127.0.0.1: a hybrid agent for reference, a
 * prefill/decode pair over UCX's TCP transport (with a cluster token) and one over shared memory (no token, so
 * loopback callers are the cluster). The test plays the proxy. Agents are shared by all tests of the class; a
 * third, short-lease prefill agent is started for the lease and crash tests.
 */
@Timeout(180)
class DistServeIT {
    static final String TOKEN = "it-cluster-secret";
    static final int BLOCK = 16;
    static final int MAX_LEN = 256;
    static final Map<String, String> COMMON = Map.of("TANDEM_AGENT_MAX_MODEL_LEN", Integer.toString(MAX_LEN));

    static Path model;
    static AgentProcess hybrid;
    static Pair tcp;
    static Pair shm;
    static final List<AgentProcess> started = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        model = AgentProcess.tinyModel(42);
        Map<String, String> tcpEnv = DistServe.env(DistServe.TCP, COMMON);
        Map<String, String> shmEnv = DistServe.env(DistServe.SHM, COMMON);
        var h = startAsync(COMMON);
        var tp = startAsync(tcpEnv, "--role", "prefill", "--cluster-token", TOKEN);
        var td = startAsync(tcpEnv, "--role", "decode", "--cluster-token", TOKEN, "--kv-lanes", "1");
        var sp = startAsync(shmEnv, "--role", "prefill");
        var sd = startAsync(shmEnv, "--role", "decode", "--kv-lanes", "3");
        hybrid = h.join();
        tcp = new Pair("tcp", tp.join(), td.join(), TOKEN);
        shm = new Pair("shm", sp.join(), sd.join(), null);
        DistServe.connect(tcp.prefill(), tcp.decode(), tcp.auth());
        DistServe.connect(shm.prefill(), shm.decode(), shm.auth());
    }

    private static CompletableFuture<AgentProcess> startAsync(Map<String, String> env, String... args) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                AgentProcess a = AgentProcess.startCompiled(model, env, args);
                synchronized (started) {
                    started.add(a);
                }
                return a;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @AfterAll
    static void stop() throws Exception {
        for (AgentProcess a : started) {
            a.close();
        }
    }

    static Pair pair(String name) {
        return name.equals("tcp") ? tcp : shm;
    }

    /** Prompt ids that avoid the low special ids, deterministic. */
    static List<Integer> prompt(int length) {
        return IntStream.range(0, length).mapToObj(i -> 3 + (i * 37 + 11) % 4000).toList();
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String transport : List.of("tcp", "shm")) {
            out.add(Arguments.of(transport, "short", 3, 12));
            out.add(Arguments.of(transport, "one block", BLOCK, 12));
            out.add(Arguments.of(transport, "many blocks", 5 * BLOCK + 3, 12));
            out.add(Arguments.of(transport, "near the context limit", MAX_LEN - 6, 16));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}: {1} ({2} tokens)")
    @MethodSource("cases")
    void decodeAfterMigration_matchesHybridOutput(String transport, String name, int promptLen, int maxTokens)
            throws Exception {
        Pair pair = pair(transport);
        ObjectNode request = DistServe.completion(prompt(promptLen), maxTokens);
        JsonNode expected = ok(hybrid.post("/v1/completions", request.toString()));
        List<Integer> expectedIds = DistServe.tokenIds(expected);
        assertThat(expectedIds).isNotEmpty();

        JsonNode pre = DistServe.prefill(pair, request, "/v1/completions");
        assertThat(pre.get("cache_block_ids")).hasSize((promptLen + BLOCK - 1) / BLOCK);
        assertThat(pre.at("/remote_token_ids/0").asInt()).isEqualTo(expectedIds.get(0));
        assertThat(pair.prefill().metric("tandem:kv_sessions_held")).isEqualTo(1);

        JsonNode got = ok(pair.decode().post("/v1/completions",
                DistServe.withMigration(request, DistServe.migrationRequest(pair.prefill(), pre)).toString(),
                pair.auth()));
        assertThat(DistServe.tokenIds(got)).isEqualTo(expectedIds);
        assertThat(got.at("/choices/0/text").asText()).isEqualTo(expected.at("/choices/0/text").asText());
        assertThat(got.at("/choices/0/finish_reason").asText()).isEqualTo(expected.at("/choices/0/finish_reason").asText());
        DistServe.awaitNoBlocks(pair.prefill(), pair.decode());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void streamedDecodeAfterMigration_matchesHybridOutput(String transport) throws Exception {
        Pair pair = pair(transport);
        ObjectNode request = DistServe.completion(prompt(3 * BLOCK + 1), 10);
        JsonNode expected = ok(hybrid.post("/v1/completions", request.toString()));
        JsonNode pre = DistServe.prefill(pair, request, "/v1/completions");
        ObjectNode streamed = DistServe.withMigration(request, DistServe.migrationRequest(pair.prefill(), pre));
        streamed.put("stream", true);
        var r = pair.decode().post("/v1/completions", streamed.toString(), pair.auth());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        StringBuilder text = new StringBuilder();
        assertThat(DistServe.streamedTokenIds(r.body(), text)).isEqualTo(DistServe.tokenIds(expected));
        assertThat(text.toString()).isEqualTo(expected.at("/choices/0/text").asText());
        DistServe.awaitNoBlocks(pair.prefill(), pair.decode());
    }

    static Stream<String> transports() {
        return Stream.of("tcp", "shm");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void chatDecodeAfterMigration_matchesHybridOutput(String transport) throws Exception {
        Pair pair = pair(transport);
        ObjectNode request = JSON.createObjectNode();
        request.put("messages", "Tell me a story about a cat who lived in a lighthouse by the sea.");
        request.put("max_tokens", 12);
        request.put("temperature", 0);
        request.put("ignore_eos", true);
        JsonNode expected = ok(hybrid.post("/v1/chat/completions", request.toString()));
        JsonNode pre = DistServe.prefill(pair, request, "/v1/chat/completions");
        JsonNode got = ok(pair.decode().post("/v1/chat/completions",
                DistServe.withMigration(request, DistServe.migrationRequest(pair.prefill(), pre)).toString(),
                pair.auth()));
        assertThat(got.at("/choices/0/message/content").asText())
                .isEqualTo(expected.at("/choices/0/message/content").asText());
        DistServe.awaitNoBlocks(pair.prefill(), pair.decode());
    }

    @Test
    void withoutClusterToken_distserveAndMigrationFieldsAreRefused() throws Exception {
        AgentProcess p = tcp.prefill();
        AgentProcess d = tcp.decode();
        assertThat(p.get("/distserve/engine_info").statusCode()).isEqualTo(401);
        assertThat(p.get("/distserve/engine_info", "Authorization", "Bearer wrong").statusCode()).isEqualTo(401);
        assertThat(p.get("/distserve/engine_info", "X-Tandem-Cluster-Token", TOKEN).statusCode()).isEqualTo(200);
        assertThat(d.post("/distserve/free_cache", "{\"remote_session_id\":1}").statusCode()).isEqualTo(401);

        ObjectNode request = DistServe.completion(prompt(20), 4);
        ObjectNode keep = request.deepCopy().put("preserve_cache", true).put("max_tokens", 1);
        var r = p.post("/v1/completions", keep.toString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(401);
        assertThat(JSON.readTree(r.body()).at("/error/param").asText()).isEqualTo("preserve_cache");

        JsonNode pre = DistServe.prefill(tcp, request, "/v1/completions");
        ObjectNode migrate = DistServe.withMigration(request, DistServe.migrationRequest(p, pre));
        r = d.post("/v1/completions", migrate.toString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(401);
        r = d.post("/v1/completions", migrate.toString(), "Authorization", "Bearer wrong");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(401);
        // Nothing was pulled or freed: the session is still there, and the real request goes through.
        assertThat(p.metric("tandem:kv_sessions_held")).isEqualTo(1);
        assertThat(ok(d.post("/v1/completions", migrate.toString(), "X-Tandem-Cluster-Token", TOKEN))
                .at("/choices/0/token_ids")).hasSize(4);
        DistServe.awaitNoBlocks(p, d);
    }

    @Test
    void hostileMigrationRequests_get4xx_andChangeNothing() throws Exception {
        AgentProcess p = tcp.prefill();
        AgentProcess d = tcp.decode();
        int promptLen = 2 * BLOCK + 8;
        ObjectNode request = DistServe.completion(prompt(promptLen), 6);
        JsonNode pre = DistServe.prefill(tcp, request, "/v1/completions");
        ObjectNode valid = DistServe.migrationRequest(p, pre);
        int numBlocks = engineBlocks(p);
        List<JsonNode> hostile = new ArrayList<>();
        hostile.add(JSON.valueToTree(List.of(1, 2)));
        hostile.add(JSON.getNodeFactory().textNode("migrate please"));
        hostile.add(JSON.createObjectNode());
        for (String field : List.of("protocol", "remote_engine_id", "remote_session_id", "remote_block_ids",
                "remote_token_id")) {
            hostile.add(valid.deepCopy().without(field));
            hostile.add(valid.deepCopy().put(field, "7"));
            hostile.add(valid.deepCopy().put(field, 1.5));
            hostile.add(valid.deepCopy().set(field, JSON.createObjectNode()));
        }
        for (int protocol : new int[] {0, 1, 3, 99, -2}) {
            hostile.add(valid.deepCopy().put("protocol", protocol));
        }
        hostile.add(valid.deepCopy().put("remote_engine_id", "http://127.0.0.1:1"));
        hostile.add(valid.deepCopy().put("remote_engine_id", hybrid.base()));
        hostile.add(valid.deepCopy().put("remote_engine_id", ""));
        hostile.add(valid.deepCopy().put("remote_session_id", -1));
        hostile.add(valid.deepCopy().put("remote_session_id", new java.math.BigInteger("100000000000000000000000")));
        hostile.add(valid.deepCopy().put("remote_token_id", -1));
        hostile.add(valid.deepCopy().put("remote_token_id", 4096));
        hostile.add(valid.deepCopy().put("remote_token_id", Long.MAX_VALUE));
        hostile.add(valid.deepCopy().put("is_dummy_prefill", true));
        hostile.add(valid.deepCopy().put("is_dummy_prefill", "no"));
        JsonNode ids = valid.get("remote_block_ids");
        hostile.add(withIds(valid, List.of()));
        hostile.add(withIds(valid, List.of(ids.get(0).asInt())));                          // too few
        hostile.add(withIds(valid, List.of(ids.get(0).asInt(), ids.get(1).asInt(), ids.get(2).asInt(), 60))); // too many
        hostile.add(withIds(valid, List.of(ids.get(0).asInt(), ids.get(0).asInt(), ids.get(1).asInt()))); // repeated
        hostile.add(withIds(valid, List.of(ids.get(0).asInt(), ids.get(1).asInt(), -1)));
        hostile.add(withIds(valid, List.of(ids.get(0).asInt(), ids.get(1).asInt(), numBlocks)));  // past the arena
        hostile.add(withIds(valid, List.of(ids.get(0).asInt(), ids.get(1).asInt(), Integer.MAX_VALUE)));
        hostile.add(withIds(valid, IntStream.range(0, 100_000).boxed().toList()));
        for (JsonNode m : hostile) {
            ObjectNode body = request.deepCopy();
            body.set("migration_request", m);
            var r = d.post("/v1/completions", body.toString(), tcp.auth());
            assertThat(r.statusCode()).as(m + " -> " + r.body()).isBetween(400, 499);
            assertThat(JSON.readTree(r.body()).at("/error/message").asText()).as(m.toString()).isNotEmpty();
        }
        // n > 1, and migration together with preserve_cache
        ObjectNode twice = DistServe.withMigration(request, valid).put("n", 2);
        assertThat(d.post("/v1/completions", twice.toString(), tcp.auth()).statusCode()).isEqualTo(400);
        ObjectNode both = DistServe.withMigration(request, valid).put("preserve_cache", true);
        assertThat(d.post("/v1/completions", both.toString(), tcp.auth()).statusCode()).isBetween(400, 499);
        // migration_request on the prefill agent, preserve_cache on the decode agent: wrong roles
        assertThat(p.post("/v1/completions", DistServe.withMigration(request, valid).toString(), tcp.auth())
                .statusCode()).isEqualTo(409);
        assertThat(d.post("/v1/completions", request.deepCopy().put("preserve_cache", true).put("max_tokens", 1)
                .toString(), tcp.auth()).statusCode()).isEqualTo(409);

        // Nothing changed: the session is held as before, the decode side holds nothing, and the real pull works.
        assertThat(p.metric("tandem:kv_sessions_held")).isEqualTo(1);
        assertThat(p.metric("tandem:kv_blocks_used")).isEqualTo(3);
        assertThat(d.metric("tandem:kv_blocks_used")).isZero();
        JsonNode expected = ok(hybrid.post("/v1/completions", request.toString()));
        JsonNode got = ok(d.post("/v1/completions", DistServe.withMigration(request, valid).toString(), tcp.auth()));
        assertThat(DistServe.tokenIds(got)).isEqualTo(DistServe.tokenIds(expected));
        DistServe.awaitNoBlocks(p, d);
    }

    private static ObjectNode withIds(ObjectNode valid, List<Integer> ids) {
        ObjectNode m = valid.deepCopy();
        m.set("remote_block_ids", JSON.valueToTree(ids));
        return m;
    }

    private static int engineBlocks(AgentProcess a) throws Exception {
        return DistServe.engineInfo(a, tcp.auth()).get("num_gpu_blocks").asInt();
    }

    @Test
    void hostileDistServeBodies_get4xx_andChangeNothing() throws Exception {
        AgentProcess p = tcp.prefill();
        AgentProcess d = tcp.decode();
        String[] auth = tcp.auth();
        ObjectNode request = DistServe.completion(prompt(BLOCK + 1), 5);
        JsonNode pre = DistServe.prefill(tcp, request, "/v1/completions");
        long session = Long.parseLong(pre.get("id").asText());
        JsonNode pc = DistServe.engineInfo(p, auth);
        JsonNode dc = DistServe.engineInfo(d, auth);
        JsonNode pInit = ok(p.post("/distserve/p2p_initialize", DistServe.initRequest(p, pc, d, dc).toString(), auth));

        List<String[]> calls = new ArrayList<>(); // {agent p|d, path, body}
        for (String path : List.of("/distserve/p2p_initialize", "/distserve/p2p_connect", "/distserve/p2p_drop_connect",
                "/distserve/free_cache")) {
            for (String body : List.of("", "not json", "[1,2]", "\"x\"", "{}", "null", "{\"remote_engine_id\":5}")) {
                calls.add(new String[] {"p", path, body});
                calls.add(new String[] {"d", path, body});
            }
        }
        ObjectNode init = DistServe.initRequest(p, pc, d, dc);
        calls.add(new String[] {"p", "/distserve/p2p_initialize", init.deepCopy().put("protocol", 1).toString()});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", init.deepCopy().put("protocol", 3).toString()});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", init.deepCopy().put("rank", 3).toString()});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", init.deepCopy().put("local_engine_id",
                "http://elsewhere:1").toString()});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", with(init, "remote_engine_config", dc, "block_size", 32)});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", with(init, "local_engine_config", pc, "tp_size", 2)});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", with(init, "remote_engine_config", dc, "pp_size", 3)});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", with(init, "remote_engine_config", dc, "tp_size", 8)});
        calls.add(new String[] {"p", "/distserve/p2p_initialize", with(init, "remote_engine_config", dc, "num_gpu_blocks", -4)});
        ObjectNode connect = DistServe.connectRequest(p, pInit);
        calls.add(new String[] {"d", "/distserve/p2p_connect", connect.deepCopy().put("protocol", 1).toString()});
        calls.add(new String[] {"d", "/distserve/p2p_connect", connect.deepCopy().put("remote_engine_id", "http://x:1").toString()});
        calls.add(new String[] {"d", "/distserve/p2p_connect", endpoint(connect, "tandem-ucx-v1:AAAA")});
        calls.add(new String[] {"d", "/distserve/p2p_connect", endpoint(connect, "garbage")});
        calls.add(new String[] {"d", "/distserve/p2p_connect", endpoint(connect, "x".repeat(100_000))});
        calls.add(new String[] {"d", "/distserve/p2p_connect", zmq(connect, "not a url")});
        calls.add(new String[] {"d", "/distserve/p2p_connect", zmq(connect, "tcp://127.0.0.1:99999")});
        ObjectNode noRdma = connect.deepCopy();
        ((ObjectNode) noRdma.at("/remote_kvtransfer_endpoint_info/0")).put("protocol", 3);
        calls.add(new String[] {"d", "/distserve/p2p_connect", noRdma.toString()});
        calls.add(new String[] {"p", "/distserve/free_cache", "{\"remote_session_id\":" + (session + 1) + "}"});
        calls.add(new String[] {"p", "/distserve/free_cache", "{\"remote_session_id\":-1}"});
        calls.add(new String[] {"p", "/distserve/free_cache", "{\"remote_session_id\":\"" + session + "\"}"});
        calls.add(new String[] {"p", "/distserve/free_cache", "{\"remote_session_id\":" + session + ",\"block_ids\":[63]}"});
        calls.add(new String[] {"p", "/distserve/free_cache", "{\"remote_session_id\":" + session + ",\"block_ids\":[0,0]}"});
        calls.add(new String[] {"d", "/distserve/free_cache", "{\"remote_session_id\":" + session + "}"});
        for (String[] c : calls) {
            AgentProcess a = c[0].equals("p") ? p : d;
            var r = a.post(c[1], c[2], auth);
            assertThat(r.statusCode()).as(c[0] + " " + c[1] + " " + abbreviate(c[2]) + " -> " + r.body())
                    .isBetween(400, 499);
        }
        var mismatch = d.post("/distserve/p2p_connect", layoutMismatch(connect), auth);
        assertThat(mismatch.statusCode()).as(mismatch.body()).isEqualTo(400);
        assertThat(mismatch.body()).contains("block_size");

        // Nothing changed: the session is still held, the connection still works, and agents serve.
        assertThat(p.metric("tandem:kv_sessions_held")).isEqualTo(1);
        JsonNode expected = ok(hybrid.post("/v1/completions", request.toString()));
        JsonNode got = ok(d.post("/v1/completions",
                DistServe.withMigration(request, DistServe.migrationRequest(p, pre)).toString(), auth));
        assertThat(DistServe.tokenIds(got)).isEqualTo(DistServe.tokenIds(expected));
        DistServe.awaitNoBlocks(p, d);

        // free_cache with the right ids frees; a second time it is gone (404).
        JsonNode again = DistServe.prefill(tcp, request, "/v1/completions");
        String free = "{\"remote_engine_id\":\"" + d.base() + "\",\"remote_session_id\":" + again.get("id").asText()
                + ",\"block_ids\":" + again.get("cache_block_ids") + "}";
        assertThat(ok(p.post("/distserve/free_cache", free, auth)).get("status").asText()).isEqualTo("SUCCESS");
        assertThat(p.post("/distserve/free_cache", free, auth).statusCode()).isEqualTo(404);
        DistServe.awaitNoBlocks(p, d);
    }

    private static String with(ObjectNode init, String config, JsonNode base, String field, int value) {
        ObjectNode b = init.deepCopy();
        b.set(config, ((ObjectNode) base.deepCopy()).put(field, value));
        return b.toString();
    }

    private static String endpoint(ObjectNode connect, String info) {
        ObjectNode b = connect.deepCopy();
        ((ObjectNode) b.at("/remote_kvtransfer_endpoint_info/0")).put("endpoint_info", info);
        return b.toString();
    }

    private static String zmq(ObjectNode connect, String address) {
        ObjectNode b = connect.deepCopy();
        ((ObjectNode) b.get("remote_engine_endpoint_info")).put("zmq_address", address);
        return b.toString();
    }

    /** The prefill agent's real endpoint info with the block size doubled. */
    private static String layoutMismatch(ObjectNode connect) {
        String info = connect.at("/remote_kvtransfer_endpoint_info/0/endpoint_info").asText();
        var a = io.tandem.kv.ucx.EndpointInfoCodec.decode(info);
        var l = a.layout();
        var other = new io.tandem.kv.ucx.ArenaDescriptor(a.workerAddress(), a.rkey(), a.baseAddress(), a.length(),
                new io.tandem.kv.KvBlockLayout(l.dtype(), l.numLayers(), l.numKvHeads(), l.headDim(), l.blockSize() * 2));
        return endpoint(connect, io.tandem.kv.ucx.EndpointInfoCodec.encode(other));
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    @Test
    void expiredLease_freesPrefillBlocks() throws Exception {
        try (AgentProcess victim = AgentProcess.start(model, DistServe.env(DistServe.TCP, COMMON), "--role", "prefill",
                "--cluster-token", TOKEN, "--cache-lease", "1s")) {
            Pair pair = new Pair("lease", victim, tcp.decode(), TOKEN);
            JsonNode pre = DistServe.prefill(pair, DistServe.completion(prompt(2 * BLOCK), 4), "/v1/completions");
            assertThat(victim.metric("tandem:kv_blocks_used")).isEqualTo(2);
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
                assertThat(victim.metric("tandem:kv_sessions_held")).isZero();
                assertThat(victim.metric("tandem:kv_blocks_used")).isZero();
            });
            var r = victim.post("/distserve/free_cache", "{\"remote_session_id\":" + pre.get("id").asText() + "}",
                    pair.auth());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(404);
        }
    }

    /**
     * A prefill agent that stops answering mid-pull (SIGSTOP: its sockets stay open, nothing is served, as when the
     * network drops) fails the decode request within the liveness/read timeout; once it resumes, both serve again.
     */
    @Test
    void stalledPrefillAgent_failsTheDecodeRequestWithinTheTimeout_andBothKeepServing() throws Exception {
        AgentProcess d = tcp.decode();
        try (AgentProcess victim = AgentProcess.start(model, DistServe.env(DistServe.TCP, COMMON), "--role", "prefill",
                "--cluster-token", TOKEN)) {
            DistServe.connect(victim, d, tcp.auth());
            Pair pair = new Pair("stalled", victim, d, TOKEN);
            ObjectNode request = DistServe.completion(prompt(4 * BLOCK), 8);
            JsonNode pre = DistServe.prefill(pair, request, "/v1/completions");
            signal("STOP", victim);
            try {
                long t0 = System.nanoTime();
                var r = d.post("/v1/completions",
                        DistServe.withMigration(request, DistServe.migrationRequest(victim, pre)).toString(), tcp.auth());
                double seconds = (System.nanoTime() - t0) / 1e9;
                assertThat(r.statusCode()).as(r.body()).isIn(502, 504);
                assertThat(seconds).as("failure latency").isLessThan(12);
                DistServe.awaitNoBlocks(d);
            } finally {
                signal("CONT", victim);
            }
            // The failed pull still told the prefill side to free the session; afterwards a fresh one goes through.
            DistServe.awaitNoBlocks(victim);
            JsonNode expected = ok(hybrid.post("/v1/completions", request.toString()));
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                JsonNode again = DistServe.prefill(pair, request, "/v1/completions");
                var r = d.post("/v1/completions",
                        DistServe.withMigration(request, DistServe.migrationRequest(victim, again)).toString(),
                        tcp.auth());
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                assertThat(DistServe.tokenIds(JSON.readTree(r.body()))).isEqualTo(DistServe.tokenIds(expected));
            });
            DistServe.awaitNoBlocks(victim, d);
        }
    }

    private static void signal(String sig, AgentProcess a) throws Exception {
        Process k = new ProcessBuilder("kill", "-" + sig, Long.toString(a.process.pid())).inheritIO().start();
        assertThat(k.waitFor()).isZero();
    }

    @Test
    void killedPrefillAgent_failsTheDecodeRequestQuickly_andDecodeKeepsServing() throws Exception {
        AgentProcess d = tcp.decode();
        AgentProcess victim = AgentProcess.start(model, DistServe.env(DistServe.TCP, COMMON), "--role", "prefill",
                "--cluster-token", TOKEN);
        try {
            DistServe.connect(victim, d, tcp.auth());
            Pair pair = new Pair("victim", victim, d, TOKEN);
            ObjectNode request = DistServe.completion(prompt(4 * BLOCK), 8);
            JsonNode pre = DistServe.prefill(pair, request, "/v1/completions");
            victim.kill9();
            long t0 = System.nanoTime();
            var r = d.post("/v1/completions",
                    DistServe.withMigration(request, DistServe.migrationRequest(victim, pre)).toString(), tcp.auth());
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertThat(r.statusCode()).as(r.body()).isIn(502, 504);
            assertThat(JSON.readTree(r.body()).at("/error/code").asText()).startsWith("kv_migration_");
            assertThat(seconds).as("failure latency").isLessThan(15);
            // the same again once the control channel has declared the peer dead
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(d.post("/v1/completions",
                    DistServe.withMigration(request, DistServe.migrationRequest(victim, pre)).toString(), tcp.auth())
                    .statusCode()).isEqualTo(502));
            DistServe.awaitNoBlocks(d);
            // the decode agent still serves, both plain and migrated requests
            ok(d.post("/v1/completions", request.toString()));
            JsonNode fresh = DistServe.prefill(tcp, request, "/v1/completions");
            JsonNode got = ok(d.post("/v1/completions",
                    DistServe.withMigration(request, DistServe.migrationRequest(tcp.prefill(), fresh)).toString(),
                    tcp.auth()));
            assertThat(DistServe.tokenIds(got)).isEqualTo(DistServe.tokenIds(ok(hybrid.post("/v1/completions",
                    request.toString()))));
            DistServe.awaitNoBlocks(tcp.prefill(), d);
        } finally {
            victim.close();
        }
    }
}
