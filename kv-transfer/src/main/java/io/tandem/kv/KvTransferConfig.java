package io.tandem.kv;

import io.tandem.kv.ucx.UcxTransport;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * Configuration of one {@link KvTransferEngine}. Immutable; build with {@link #builder(String, KvBlockLayout, long)}.
 *
 * @param engineId this engine's id (its node URL in DistServe)
 * @param layout the layout of one KV block; peers must have the same
 * @param arenaBytes bytes of the KV arena to allocate (whole blocks are used)
 * @param zmqBindAddress where the control channel's ROUTER binds; {@code tcp://127.0.0.1:*} picks a free port
 * @param ucxConfig UCX settings for this engine's context only, keys without {@code UCX_} (e.g.
 *        {@code TLS=tcp}, {@code NET_DEVICES=lo}); empty: the environment's {@code UCX_*} and UCX's defaults,
 *        except for the TCP segment sizes and the worker address version, which default to
 *        {@link io.tandem.kv.ucx.UcxTransport#TCP_SEGMENT_DEFAULTS} and
 *        {@link io.tandem.kv.ucx.UcxTransport#ADDRESS_DEFAULTS} unless set here or in the environment
 * @param readTimeout a migration not finished after this fails with {@code TransferTimeoutException}
 * @param maxReadBytes the largest single RDMA GET; longer contiguous runs are split. The default, 1 GiB, keeps a
 *        contiguous run in one GET: over UCX 1.13's shared memory a GET is one copy by the reader and over TCP the
 *        owner's worker serves it in segments anyway, and several big GETs in flight at once were slower than one
 *        (docs/benchmarks.md, "KV transfer")
 * @param pingInterval how often the control channel pings each peer
 * @param peerDeadAfter silence after which a peer is declared dead and its reads fail
 * @param prefaultArena fault the whole arena in at creation (default), so that no migration pays for first
 *        writes to its destination blocks, and populate this process's mapping of each peer's arena at connect
 *        where a transport maps it (shared memory), so that no GET pays for first reads; costs that time at
 *        start and at connect, and commits the arena's memory at once
 * @param lanes UCX workers reading in parallel, each with its own progress thread: every migration of at least two
 *        lane shares (2 MiB each) from a peer whose arena UCX maps here (shared memory) is spread over them (see
 *        {@link io.tandem.kv.ucx.UcxTransport}); default
 *        {@link io.tandem.kv.ucx.UcxTransport#DEFAULT_LANES}, 1 to {@link io.tandem.kv.ucx.UcxTransport#MAX_LANES}
 */
public record KvTransferConfig(String engineId, KvBlockLayout layout, long arenaBytes, String zmqBindAddress,
                               Map<String, String> ucxConfig, Duration readTimeout, long maxReadBytes,
                               Duration pingInterval, Duration peerDeadAfter, boolean prefaultArena,
                               int lanes) {

    public KvTransferConfig {
        Objects.requireNonNull(engineId, "engineId");
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(zmqBindAddress, "zmqBindAddress");
        ucxConfig = Map.copyOf(ucxConfig);
        if (engineId.isBlank()) {
            throw new IllegalArgumentException("engineId: blank (expected: the engine's id)");
        }
        if (arenaBytes < layout.blockBytes()) {
            throw new IllegalArgumentException("arenaBytes: " + arenaBytes + " (expected: >= blockBytes "
                    + layout.blockBytes() + ")");
        }
        checkPositive("readTimeout", readTimeout);
        checkPositive("pingInterval", pingInterval);
        checkPositive("peerDeadAfter", peerDeadAfter);
        if (peerDeadAfter.compareTo(pingInterval) <= 0) {
            throw new IllegalArgumentException("peerDeadAfter: " + peerDeadAfter + " (expected: > pingInterval "
                    + pingInterval + ")");
        }
        if (maxReadBytes <= 0) {
            throw new IllegalArgumentException("maxReadBytes: " + maxReadBytes + " (expected: > 0)");
        }
        if (lanes < 1 || lanes > UcxTransport.MAX_LANES) {
            throw new IllegalArgumentException("lanes: " + lanes + " (expected: 1 to " + UcxTransport.MAX_LANES + ")");
        }
    }

    private static void checkPositive(String name, Duration d) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
        }
    }

    /** Number of whole blocks the arena holds. */
    public long numBlocks() {
        return arenaBytes / layout.blockBytes();
    }

    /**
     * A builder with the defaults: control channel on {@code tcp://127.0.0.1:*}, UCX from the environment,
     * read timeout 30 s, reads of at most 1 GiB, ping every 500 ms, peer dead after 3 s of silence, arena
     * prefaulted, {@link UcxTransport#DEFAULT_LANES} lanes.
     */
    public static Builder builder(String engineId, KvBlockLayout layout, long arenaBytes) {
        return new Builder(engineId, layout, arenaBytes);
    }

    /** Builder of {@link KvTransferConfig}. Not thread-safe. */
    public static final class Builder {
        private final String engineId;
        private final KvBlockLayout layout;
        private final long arenaBytes;
        private String zmqBindAddress = "tcp://127.0.0.1:*";
        private Map<String, String> ucxConfig = Map.of();
        private Duration readTimeout = Duration.ofSeconds(30);
        private long maxReadBytes = 1L << 30;
        private Duration pingInterval = Duration.ofMillis(500);
        private Duration peerDeadAfter = Duration.ofSeconds(3);
        private boolean prefaultArena = true;
        private int lanes = UcxTransport.DEFAULT_LANES;

        private Builder(String engineId, KvBlockLayout layout, long arenaBytes) {
            this.engineId = engineId;
            this.layout = layout;
            this.arenaBytes = arenaBytes;
        }

        public Builder zmqBindAddress(String v) {
            zmqBindAddress = v;
            return this;
        }

        public Builder ucxConfig(Map<String, String> v) {
            ucxConfig = v;
            return this;
        }

        public Builder readTimeout(Duration v) {
            readTimeout = v;
            return this;
        }

        public Builder maxReadBytes(long v) {
            maxReadBytes = v;
            return this;
        }

        public Builder pingInterval(Duration v) {
            pingInterval = v;
            return this;
        }

        public Builder peerDeadAfter(Duration v) {
            peerDeadAfter = v;
            return this;
        }

        public Builder prefaultArena(boolean v) {
            prefaultArena = v;
            return this;
        }

        public Builder lanes(int v) {
            lanes = v;
            return this;
        }

        public KvTransferConfig build() {
            return new KvTransferConfig(engineId, layout, arenaBytes, zmqBindAddress, ucxConfig, readTimeout,
                    maxReadBytes, pingInterval, peerDeadAfter, prefaultArena, lanes);
        }
    }
}
