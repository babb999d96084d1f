package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import io.tandem.engine.model.LoadedModel;
import io.tandem.engine.weights.SafetensorsWriter;

/**
 * Cluster-wide RL weight updates through a real proxy: two agents serving the seed-42 model (one attached with
 * {@code --controller}, one added with /nodes/add) get the seed-7 model's tensors with one proxy call, a rolling
 * commit, while a client keeps streaming; afterwards both answer as an agent updated directly does. Also the admin
 * key, bad bodies, a bucket the nodes refuse, and cluster-wide sleep and wake-up. Methods run in order.
 */
@Timeout(300)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterWeightsIT {
    static final String[] ADMIN = {"Authorization", "Bearer adm"};
    static final ObjectMapper JSON = new ObjectMapper();
    // Token ids, not text: the update replaces weights, not the tokenizer.
    static final String COMPLETION = "{\"model\":\"tandem-tiny\",\"prompt\":[79,110,99,101,302,112,111,110],"
            + "\"max_tokens\":12,\"temperature\":0,\"ignore_eos\":true}";
    static Procs.Proc proxy;
    static Procs.Proc attached;
    static Procs.Proc added;
    static String bucketB;
    static String before;
    static String expectedB;

    @BeforeAll
    static void start() throws Exception {
        try (LoadedModel b = LoadedModel.load(Procs.tinyModel(7))) {
            bucketB = Base64.getEncoder().encodeToString(SafetensorsWriter.ofWeights(b.weights(), b.config(),
                    SafetensorsWriter.Naming.GGUF).toByteArray());
        }
        // The reference: an agent on the seed-42 model updated directly, as UpdateWeightsIT checks it.
        try (Procs.Proc reference = Procs.agent(Procs.tinyModel(), Procs.freePort(), Map.of(), "--admin-key", "nadm")) {
            before = text(reference);
            HttpResponse<String> r = reference.post("/update_weights", commitBody(null), "Authorization", "Bearer nadm");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            expectedB = text(reference);
        }
        assertThat(expectedB).isNotEqualTo(before);

        int grpc = Procs.freePort();
        proxy = Procs.proxy(0, List.of(), "--strategy", "random", "--admin-key", "adm", "--node-admin-key", "nadm",
                "--grpc-port", Integer.toString(grpc));
        attached = Procs.agent("--admin-key", "nadm", "--controller", "127.0.0.1:" + grpc);
        added = Procs.agent("--admin-key", "nadm");
        HttpResponse<String> r = proxy.post("/nodes/add", "{\"url\":\"" + added.base() + "\"}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(20)).until(() -> routable(attached) && routable(added));
    }

    @AfterAll
    static void stop() throws Exception {
        for (Procs.Proc p : new Procs.Proc[] {proxy, attached, added}) {
            if (p != null) {
                p.close();
            }
        }
    }

    static String commitBody(String model) throws Exception {
        return model == null
                ? JSON.writeValueAsString(Map.of("serialized_named_tensors", List.of(bucketB), "finished", true))
                : JSON.writeValueAsString(Map.of("serialized_named_tensors", List.of(bucketB), "finished", true,
                        "model", model));
    }

    static String text(Procs.Proc p) throws Exception {
        HttpResponse<String> r = p.post("/v1/completions", COMPLETION);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).path("choices").path(0).path("text").asText();
    }

    static JsonNode status(Procs.Proc agent) throws Exception {
        return JSON.readTree(proxy.get("/nodes/status", ADMIN).body()).path(agent.base());
    }

    static boolean routable(Procs.Proc agent) throws Exception {
        return status(agent).path("routable").asBoolean(false);
    }

    static void assertError(HttpResponse<String> r, int status, String messagePart) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        JsonNode error = JSON.readTree(r.body()).path("error");
        assertThat(error.path("message").asText()).contains(messagePart);
        assertThat(error.path("type").asText()).isNotEmpty();
    }

    @Test
    @Order(1)
    void adminKeyRequired_andBadBodiesAre400WithOpenAiErrors() throws Exception {
        assertError(proxy.post("/update_weights", "{\"finished\":true}"), 401, "admin key");
        assertError(proxy.post("/update_weights", "{\"finished\":true}", "Authorization", "Bearer nope"), 403,
                "Incorrect admin key");
        assertError(proxy.post("/sleep", ""), 401, "admin key");
        assertError(proxy.get("/is_sleeping"), 401, "admin key");

        assertError(proxy.post("/update_weights", "not json", ADMIN), 400, "not JSON");
        assertError(proxy.post("/update_weights", "[1]", ADMIN), 400, "JSON object");
        assertError(proxy.post("/update_weights", "{\"finished\":\"yes\"}", ADMIN), 400, "finished");
        assertError(proxy.post("/update_weights", "{\"serialized_named_tensors\":5}", ADMIN), 400,
                "serialized_named_tensors");
        assertError(proxy.post("/update_weights", "{\"finished\":false}", ADMIN), 400, "required unless finished");
        assertError(proxy.post("/update_weights", "{\"finished\":true,\"drain_timeout_ms\":-1}", ADMIN), 400,
                "drain_timeout_ms");
        assertError(proxy.post("/update_weights", "{\"finished\":true,\"load_format\":\"pickle\"}", ADMIN), 400,
                "load_format");
        assertError(proxy.post("/update_weights", "{\"finished\":true,\"model\":\"other\"}", ADMIN), 404, "other");
        assertError(proxy.post("/sleep?level=3", "", ADMIN), 400, "level");
        assertError(proxy.post("/wakeup?tags=gpu", "", ADMIN), 400, "tags");
        assertThat(text(proxy)).as("nothing changed").isEqualTo(before);
    }

    @Test
    @Order(2)
    void rollingUpdate_whileAClientStreams_nothingDropped_andEveryNodeAnswersWithTheNewWeights() throws Exception {
        List<String> streams = new CopyOnWriteArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        String streaming = COMPLETION.replace("\"max_tokens\":12", "\"max_tokens\":24,\"stream\":true");
        Thread client = Thread.ofVirtual().start(() -> {
            while (!stop.get()) {
                try {
                    HttpResponse<String> r = Procs.HTTP.send(HttpRequest.newBuilder(URI.create(proxy.base()
                                    + "/v1/completions")).header("Content-Type", "application/json")
                            .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(streaming))
                            .build(), HttpResponse.BodyHandlers.ofString());
                    streams.add(r.statusCode() + (r.body().contains("data: [DONE]") ? " complete" : " cut: " + r.body()));
                } catch (Exception e) {
                    streams.add("failed: " + e);
                }
            }
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> streams.size() >= 2);

        // A trainer's flow: stage the bucket on every node, then commit (drain, swap, resume one node at a time).
        HttpResponse<String> staged = proxy.post("/update_weights", JSON.writeValueAsString(Map.of(
                "serialized_named_tensors", List.of(bucketB), "finished", false, "model", "tandem-tiny")), ADMIN);
        assertThat(staged.statusCode()).as(staged.body()).isEqualTo(200);
        assertThat(JSON.readTree(staged.body()).path("nodes")).hasSize(2);
        assertThat(text(proxy)).as("staged, not committed").isEqualTo(before);

        HttpResponse<String> r = proxy.post("/update_weights",
                "{\"finished\":true,\"model\":\"tandem-tiny\",\"drain_timeout_ms\":30000}", ADMIN);
        int duringUpdate = streams.size();
        stop.set(true);
        client.join(Duration.ofSeconds(60));

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode report = JSON.readTree(r.body());
        assertThat(report.path("rolling").asBoolean()).isTrue();
        assertThat(report.path("nodes")).hasSize(2);
        for (JsonNode n : report.path("nodes")) {
            assertThat(n.path("outcome").asText()).as(n.toString()).isEqualTo("done");
            assertThat(n.path("idle").asBoolean()).as("drained before the swap: " + n).isTrue();
            assertThat(n.path("in_rotation").asBoolean()).isTrue();
        }
        assertThat(streams).as("every request while the nodes were updated one by one").isNotEmpty()
                .allMatch(s -> s.equals("200 complete"));
        System.err.printf("ClusterWeightsIT: %d streamed requests, %d of them before the commit answered%n",
                streams.size(), duringUpdate);

        assertThat(text(attached)).isEqualTo(expectedB);
        assertThat(text(added)).isEqualTo(expectedB);
        assertThat(text(proxy)).isEqualTo(expectedB);
        assertThat(routable(attached) && routable(added)).isTrue();
    }

    @Test
    @Order(3)
    void bucketTheNodesRefuse_is400_rollingStopsAtTheFirst_andEveryNodeKeepsServing() throws Exception {
        byte[] bad = new SafetensorsWriter().putF32("blk.0.attn_q.weight", new long[] {3, 3}, new float[9])
                .toByteArray();
        HttpResponse<String> r = proxy.post("/update_weights", JSON.writeValueAsString(Map.of(
                "serialized_named_tensors", Base64.getEncoder().encodeToString(bad), "finished", true)), ADMIN);
        assertError(r, 400, "blk.0.attn_q.weight");
        JsonNode nodes = JSON.readTree(r.body()).path("nodes");
        assertThat(nodes.path(0).path("outcome").asText()).isEqualTo("failed");
        assertThat(nodes.path(0).path("status").asInt()).isEqualTo(400);
        assertThat(nodes.path(1).path("outcome").asText()).isEqualTo("skipped");
        assertThat(nodes.path(0).path("in_rotation").asBoolean()).isTrue();
        assertThat(nodes.path(1).path("in_rotation").asBoolean()).isTrue();
        assertThat(text(attached)).isEqualTo(expectedB);
        assertThat(text(added)).isEqualTo(expectedB);
    }

    @Test
    @Order(4)
    void sleepAndWakeup_ofTheWholeCluster() throws Exception {
        HttpResponse<String> r = proxy.post("/sleep?level=1&model=tandem-tiny", "", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        r = proxy.get("/is_sleeping", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).path("is_sleeping").asBoolean()).as(r.body()).isTrue();
        assertThat(attached.get("/is_sleeping").body()).contains("true");
        assertThat(added.get("/is_sleeping").body()).contains("true");
        assertThat(status(added).path("sleeping").asBoolean()).isTrue();
        assertThat(proxy.post("/v1/completions", COMPLETION).statusCode()).as("no node awake").isEqualTo(503);

        r = proxy.post("/wakeup", "", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(proxy.get("/is_sleeping", ADMIN).body()).path("is_sleeping").asBoolean()).isFalse();
        await().atMost(Duration.ofSeconds(10)).until(() -> routable(attached) && routable(added));
        assertThat(text(proxy)).isEqualTo(expectedB);
    }

    /**
     * An agent that restarts comes back with the model file's weights ("base"), not the pushed ones: the proxy keeps
     * it out of rotation (/nodes/status: stale_weights) instead of serving two policies, an operator's undrain takes
     * it back as it is, and the next push makes the nodes agree again.
     */
    @Test
    @Order(5)
    void agentThatRestarts_losesThePushedWeights_andIsFencedUntilPushedAgainOrUndrained() throws Exception {
        JsonNode pushed = status(added);
        String committed = pushed.path("expected_weights_version").asText();
        assertThat(committed).isNotEmpty().isNotEqualTo("base");
        assertThat(pushed.path("weights_version").asText()).isEqualTo(committed);
        assertThat(status(attached).path("weights_version").asText()).as("the same pushes, the same version")
                .isEqualTo(committed);

        int port = added.port;
        added.kill9();
        added = Procs.agent(Procs.tinyModel(), port, Map.of(), "--admin-key", "nadm");
        await().atMost(Duration.ofSeconds(20)).until(() -> status(added).path("weights_version").asText()
                .equals("base"));
        JsonNode fenced = status(added);
        assertThat(fenced.path("stale_weights").asBoolean()).as(fenced.toString()).isTrue();
        assertThat(fenced.path("routable").asBoolean()).isFalse();
        assertThat(fenced.path("health").asText()).isEqualTo("healthy");
        assertThat(text(added)).as("it does serve the base weights").isEqualTo(before);
        for (int i = 0; i < 4; i++) {
            assertThat(text(proxy)).as("only the node with the pushed weights answers").isEqualTo(expectedB);
        }

        HttpResponse<String> r = proxy.post("/nodes/undrain", "{\"url\":\"" + added.base() + "\"}", ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(status(added).path("stale_weights").asBoolean()).isFalse();
        assertThat(status(added).path("expected_weights_version").asText()).isEqualTo("base");
        // its circuit may still be open from while it was down
        await().atMost(Duration.ofSeconds(30)).until(() -> routable(added));

        r = proxy.post("/update_weights", commitBody("tandem-tiny"), ADMIN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(text(added)).isEqualTo(expectedB);
        assertThat(routable(added) && routable(attached)).isTrue();
        assertThat(text(proxy)).isEqualTo(expectedB);
    }
}
