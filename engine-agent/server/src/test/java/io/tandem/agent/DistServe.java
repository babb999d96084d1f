package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the proxy does in DistServe mode, played by the tests: pair a prefill and a decode agent
 * (engine_info, p2p_initialize, p2p_connect on both), then run a request as a prefill with preserve_cache and a
 * decode with migration_request. Engine ids are the agents' base URLs, as the proxy's are.
 */
final class DistServe {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicLong SESSIONS = new AtomicLong(1000);

    /** Environment of an agent whose UCX uses TCP over loopback. */
    static final Map<String, String> TCP = Map.of("UCX_TLS", "tcp", "UCX_NET_DEVICES", "lo");
    /** Environment of an agent whose UCX uses shared memory (posix mmap, cross-memory attach). */
    static final Map<String, String> SHM = Map.of("UCX_TLS", "posix,cma,self");

    private DistServe() {
    }

    static Map<String, String> env(Map<String, String> transport, Map<String, String> more) {
        Map<String, String> m = new LinkedHashMap<>(transport);
        m.putAll(more);
        return m;
    }

    /** A prefill and a decode agent, and the cluster token both were started with (null: none). */
    record Pair(String name, AgentProcess prefill, AgentProcess decode, String token) {
        String[] auth() {
            return token == null ? new String[0] : new String[] {"Authorization", "Bearer " + token};
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static long nextSession() {
        return SESSIONS.incrementAndGet();
    }

    static JsonNode ok(HttpResponse<String> r) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    /** engine_info answers a JSON string holding the config; returns the config object. */
    static JsonNode engineInfo(AgentProcess a, String[] auth) throws Exception {
        JsonNode outer = ok(a.get("/distserve/engine_info", auth));
        assertThat(outer.isTextual()).as("engine_info is double-encoded").isTrue();
        return JSON.readTree(outer.asText());
    }

    static ObjectNode initRequest(AgentProcess local, JsonNode localConfig, AgentProcess remote, JsonNode remoteConfig) {
        ObjectNode b = JSON.createObjectNode();
        b.put("local_engine_id", local.base());
        b.set("local_engine_config", localConfig);
        b.put("remote_engine_id", remote.base());
        b.set("remote_engine_config", remoteConfig);
        b.put("protocol", 2);
        b.put("rank", 0);
        b.set("rdma_config", JSON.createObjectNode().put("with_gdr", true).put("link_type", 2));
        return b;
    }

    static ObjectNode connectRequest(AgentProcess remote, JsonNode remoteInit) {
        ObjectNode b = JSON.createObjectNode();
        b.put("protocol", 2);
        b.put("remote_engine_id", remote.base());
        b.set("remote_engine_endpoint_info", remoteInit.get("engine_endpoint_info"));
        b.set("remote_kvtransfer_endpoint_info", remoteInit.get("kvtransfer_endpoint_info"));
        return b;
    }

    /** The proxy's pairing handshake; returns the two p2p_initialize answers (prefill's, decode's). */
    static JsonNode[] connect(AgentProcess prefill, AgentProcess decode, String[] auth) throws Exception {
        JsonNode pc = engineInfo(prefill, auth);
        JsonNode dc = engineInfo(decode, auth);
        JsonNode pi = ok(prefill.post("/distserve/p2p_initialize", initRequest(prefill, pc, decode, dc).toString(), auth));
        JsonNode di = ok(decode.post("/distserve/p2p_initialize", initRequest(decode, dc, prefill, pc).toString(), auth));
        assertThat(pi.get("status").asInt()).isEqualTo(1);
        assertThat(pi.at("/kvtransfer_endpoint_info/0/protocol").asInt()).isEqualTo(2);
        assertThat(ok(prefill.post("/distserve/p2p_connect", connectRequest(decode, di).toString(), auth))
                .get("status").asInt()).isEqualTo(1);
        assertThat(ok(decode.post("/distserve/p2p_connect", connectRequest(prefill, pi).toString(), auth))
                .get("status").asInt()).isEqualTo(1);
        return new JsonNode[] {pi, di};
    }

    static ObjectNode completion(List<Integer> prompt, int maxTokens) {
        ObjectNode b = JSON.createObjectNode();
        b.set("prompt", JSON.valueToTree(prompt));
        b.put("max_tokens", maxTokens);
        b.put("temperature", 0);
        b.put("ignore_eos", true);
        b.put("return_token_ids", true);
        return b;
    }

    /** The proxy's prefill request: max_tokens=1, not streamed, with_cache and preserve_cache, a session id. */
    static JsonNode prefill(Pair pair, ObjectNode request, String path) throws Exception {
        ObjectNode b = request.deepCopy();
        b.put("max_tokens", 1);
        b.put("max_completion_tokens", 1);
        b.put("stream", false);
        b.put("with_cache", true);
        b.put("preserve_cache", true);
        b.put("session_id", nextSession());
        return ok(pair.prefill().post(path, b.toString(), pair.auth()));
    }

    static ObjectNode migrationRequest(AgentProcess prefill, JsonNode prefillAnswer) {
        ObjectNode m = JSON.createObjectNode();
        m.put("protocol", 2);
        m.put("remote_engine_id", prefill.base());
        m.put("remote_session_id", Long.parseLong(prefillAnswer.get("id").asText()));
        m.set("remote_block_ids", prefillAnswer.get("cache_block_ids"));
        JsonNode remote = prefillAnswer.get("remote_token_ids");
        m.put("remote_token_id", remote.get(remote.size() - 1).asInt());
        m.put("is_dummy_prefill", false);
        return m;
    }

    static ObjectNode withMigration(ObjectNode request, ObjectNode migration) {
        ObjectNode b = request.deepCopy();
        b.set("migration_request", migration);
        return b;
    }

    /** Greedy token ids of a non-streamed completion. */
    static List<Integer> tokenIds(JsonNode completion) {
        List<Integer> ids = new ArrayList<>();
        completion.at("/choices/0/token_ids").forEach(n -> ids.add(n.asInt()));
        return ids;
    }

    /** Token ids and text of a streamed completion (SSE, return_token_ids). */
    static List<Integer> streamedTokenIds(String sse, StringBuilder text) throws Exception {
        List<Integer> ids = new ArrayList<>();
        for (String line : sse.split("\n")) {
            if (line.startsWith("data: {")) {
                JsonNode chunk = JSON.readTree(line.substring(6));
                JsonNode c = chunk.at("/choices/0");
                c.path("token_ids").forEach(n -> ids.add(n.asInt()));
                text.append(c.path("text").asText(""));
            }
        }
        return ids;
    }

    /** Both agents back to no KV block used and no session held (the prefill side frees asynchronously). */
    static void awaitNoBlocks(AgentProcess... agents) {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).untilAsserted(() -> {
            for (AgentProcess a : agents) {
                assertThat(a.metric("tandem:kv_blocks_used")).as("KV blocks used on " + a.base()).isZero();
                assertThat(a.metric("tandem:kv_sessions_held")).as("sessions held on " + a.base()).isZero();
                assertThat(a.metric("vllm:num_requests_running")).as("running on " + a.base()).isZero();
            }
        });
    }
}
