package io.tandem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * SIGTERM ({@link Process#destroy()} on Linux) while a stream runs: the agent stops taking requests at once (503
 * or connection refused), lets the running stream finish within the grace period (or aborts it at the end of the
 * grace, still ending the stream properly), and exits cleanly (0, or 143 = 128 + SIGTERM).
 */
@Timeout(180)
class ShutdownIT {
    static final ObjectMapper JSON = new ObjectMapper();

    /** Decode speed of this agent on this (shared) machine, tokens/s, from one warm request. */
    private static double tokensPerSecond(AgentProcess agent) throws Exception {
        agent.post("/v1/completions", "{\"prompt\":\"warm\",\"max_tokens\":32,\"ignore_eos\":true}");
        long t0 = System.nanoTime();
        HttpResponse<String> r = agent.post("/v1/completions", "{\"prompt\":\"warm\",\"max_tokens\":64,\"ignore_eos\":true}");
        assertThat(r.statusCode()).isEqualTo(200);
        return 64 / ((System.nanoTime() - t0) / 1e9);
    }

    /** A streaming completion read on its own thread; lines collected, {@link #done} set at the end. */
    private static final class Stream {
        final List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());
        final AtomicBoolean done = new AtomicBoolean();
        final Thread reader;
        volatile Throwable failure;

        Stream(AgentProcess agent, int maxTokens) throws Exception {
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(agent.base() + "/v1/completions"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                            "{\"prompt\":\"a long story\",\"max_tokens\":" + maxTokens + ",\"ignore_eos\":true,"
                                    + "\"stream\":true}")).build(), HttpResponse.BodyHandlers.ofInputStream());
            assertThat(r.statusCode()).isEqualTo(200);
            BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
            reader = Thread.ofPlatform().name("stream-reader").start(() -> {
                try (in) {
                    for (String line; (line = in.readLine()) != null; ) {
                        if (!line.isBlank()) {
                            lines.add(line);
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    failure = e;
                } finally {
                    done.set(true);
                    http.close();
                }
            });
        }

        List<JsonNode> chunks() throws Exception {
            List<JsonNode> out = new ArrayList<>();
            for (String l : List.copyOf(lines)) {
                if (l.startsWith("data: {")) {
                    out.add(JSON.readTree(l.substring(6)));
                }
            }
            return out;
        }

        String finishReason() throws Exception {
            String f = null;
            for (JsonNode c : chunks()) {
                if (c.at("/choices/0/finish_reason").isTextual()) {
                    f = c.at("/choices/0/finish_reason").asText();
                }
            }
            return f;
        }
    }

    /** True when a new request is refused as a draining agent should: 503 with an OpenAI body, or no connection. */
    private static boolean refusesNewRequests(AgentProcess agent) {
        try {
            HttpResponse<String> r = agent.post("/v1/completions", "{\"prompt\":\"late\",\"max_tokens\":1}");
            if (r.statusCode() == 503) {
                assertThat(JSON.readTree(r.body()).at("/error/code").asText()).isNotBlank();
                return true;
            }
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200); // accepted before the signal landed
            return false;
        } catch (IOException refusedOrReset) {
            return true;
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void sigterm_refusesNewRequests_runningStreamFinishesInGrace_exitsCleanly() throws Exception {
        try (AgentProcess agent = AgentProcess.start(AgentProcess.tinyModel(42), "--shutdown-grace", "20s")) {
            double rate = tokensPerSecond(agent);
            // about three seconds of decoding: long enough to outlive the first refusal, well inside the grace
            int maxTokens = (int) Math.max(48, Math.min(900, rate * 3));
            Stream s = new Stream(agent, maxTokens);
            await().atMost(Duration.ofSeconds(10)).until(() -> s.chunks().size() >= 3);

            long t0 = System.nanoTime();
            agent.process.destroy(); // SIGTERM
            await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50)).until(() -> refusesNewRequests(agent));
            assertThat(s.done.get()).as("the stream was still running when new requests were refused").isFalse();
            assertThat(agent.get("/health").statusCode()).isEqualTo(503);

            s.reader.join(TimeUnit.SECONDS.toMillis(20));
            assertThat(s.failure).isNull();
            assertThat(s.lines.getLast()).isEqualTo("data: [DONE]");
            assertThat(s.finishReason()).isEqualTo("length");
            assertThat(s.chunks().stream().filter(c -> !c.at("/choices/0/text").asText().isEmpty()
                    || c.at("/choices/0/finish_reason").isTextual()).count()).isGreaterThanOrEqualTo(1);
            assertThat(agent.process.waitFor(25, TimeUnit.SECONDS)).as("exited").isTrue();
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertThat(agent.process.exitValue()).isIn(0, 143);
            assertThat(seconds).isLessThan(20 + 5);
            assertThat(Files.readString(agent.log)).contains("shutting down");
        }
    }

    @Test
    void sigterm_streamOutlivingTheGrace_isAbortedAndEndsCleanly() throws Exception {
        try (AgentProcess agent = AgentProcess.start(AgentProcess.tinyModel(42), "--shutdown-grace", "1s",
                "--kv-blocks", "128")) {
            double rate = tokensPerSecond(agent);
            org.junit.jupiter.api.Assumptions.assumeTrue(rate < 1000, "decoding at " + (int) rate
                    + " tok/s would finish 1900 tokens inside the 1 s grace");
            Stream s = new Stream(agent, 1900);
            await().atMost(Duration.ofSeconds(10)).until(() -> s.chunks().size() >= 3);

            agent.process.destroy();
            s.reader.join(TimeUnit.SECONDS.toMillis(20));
            assertThat(s.failure).isNull();
            assertThat(s.finishReason()).isEqualTo("abort");
            assertThat(s.lines.getLast()).isEqualTo("data: [DONE]");
            assertThat(agent.process.waitFor(20, TimeUnit.SECONDS)).as("exited").isTrue();
            assertThat(agent.process.exitValue()).isIn(0, 143);
        }
    }
}
