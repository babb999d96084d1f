package io.tandem.kv.ucx;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.tandem.kv.KvBlockLayout;
import io.tandem.kv.errors.InvalidEndpointInfoException;
import io.tandem.proto.KvLayoutInfo;
import io.tandem.proto.UcxEndpointInfo;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Encodes an {@link ArenaDescriptor} as the {@code endpoint_info} string of LMDeploy's
 * {@code kvtransfer_endpoint_info} entry (protocol RDMA = 2), and decodes and validates a peer's.
 *
 * <p>Format: {@code "tandem-ucx-v1:" + base64url(UcxEndpointInfo protobuf)}, no padding. The string travels in
 * JSON through the proxy, so it is plain ASCII with no characters that need escaping.
 *
 * <p>The message's {@code version} is 2 since the TCP segment defaults ({@link UcxTransport#TCP_SEGMENT_DEFAULTS}):
 * an owner then answers GETs over TCP in segments of up to 512 KiB, which a reader on UCX's default 64 KiB
 * receive segments cannot take (UCX 1.13 aborts that process). Readers of this version clamp what a peer sends
 * them through UCX's v2 worker address; a reader of version 1 rejects a version-2 endpoint info at connect time
 * instead of crashing at the first read. Version 1 (an owner on UCX's default segments) is still accepted.
 *
 * <p>Decoding rejects, with {@link InvalidEndpointInfoException}, anything that is not exactly this format:
 * the worker address and rkey are handed to UCX as they are, so their sizes are bounded and everything around
 * them is checked, but their contents are opaque; only accept endpoint infos from authenticated cluster peers.
 * Stateless and thread-safe.
 */
public final class EndpointInfoCodec {

    /** Prefix of every endpoint info string this version writes. */
    public static final String PREFIX = "tandem-ucx-v1:";
    /** The {@code version} this code writes; it reads this one and {@link #MIN_VERSION}. */
    public static final int VERSION = 2;
    /** The oldest {@code version} accepted. */
    public static final int MIN_VERSION = 1;
    /** Longest endpoint info string accepted. */
    public static final int MAX_LENGTH = 16 * 1024;
    /** Largest worker address or rkey accepted, in bytes (UCX's are a few hundred bytes). */
    static final int MAX_BLOB = 4096;

    private EndpointInfoCodec() {
    }

    public static String encode(ArenaDescriptor d) {
        KvBlockLayout l = d.layout();
        UcxEndpointInfo info = UcxEndpointInfo.newBuilder()
                .setVersion(VERSION)
                .setWorkerAddress(ByteString.copyFrom(d.workerAddress()))
                .setRkey(ByteString.copyFrom(d.rkey()))
                .setBaseAddress(d.baseAddress())
                .setLength(d.length())
                .setLayout(toProto(l))
                .build();
        return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(info.toByteArray());
    }

    public static ArenaDescriptor decode(String s) {
        if (s == null || s.isEmpty()) {
            throw new InvalidEndpointInfoException("endpoint_info: empty (expected: a string starting with "
                    + PREFIX + ")");
        }
        if (s.length() > MAX_LENGTH) {
            throw new InvalidEndpointInfoException("endpoint_info: " + s.length() + " characters (expected: <= "
                    + MAX_LENGTH + ")");
        }
        if (!s.startsWith(PREFIX)) {
            throw new InvalidEndpointInfoException("endpoint_info: unknown format (expected: a string starting with "
                    + PREFIX + ")");
        }
        byte[] bytes;
        try {
            bytes = Base64.getUrlDecoder().decode(s.substring(PREFIX.length()));
        } catch (IllegalArgumentException e) {
            throw new InvalidEndpointInfoException("endpoint_info: not base64url after the prefix", e);
        }
        UcxEndpointInfo info;
        try {
            info = UcxEndpointInfo.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new InvalidEndpointInfoException("endpoint_info: not a UcxEndpointInfo message", e);
        }
        if (info.getVersion() < MIN_VERSION || info.getVersion() > VERSION) {
            throw new InvalidEndpointInfoException("endpoint_info.version: " + Integer.toUnsignedString(
                    info.getVersion()) + " (expected: " + MIN_VERSION + " to " + VERSION + ")");
        }
        checkBlob("worker_address", info.getWorkerAddress());
        checkBlob("rkey", info.getRkey());
        if (!info.hasLayout()) {
            throw new InvalidEndpointInfoException("endpoint_info.layout: missing");
        }
        KvBlockLayout layout;
        try {
            layout = KvBlockLayout.fromFields(fields(info.getLayout()));
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new InvalidEndpointInfoException("endpoint_info.layout: " + e.getMessage(), e);
        }
        long base = info.getBaseAddress();
        long length = info.getLength();
        if (base == 0) {
            throw new InvalidEndpointInfoException("endpoint_info.base_address: 0 (expected: a mapped address)");
        }
        if (length < layout.blockBytes() || length < 0) {
            throw new InvalidEndpointInfoException("endpoint_info.length: " + Long.toUnsignedString(length)
                    + " (expected: >= block_bytes " + layout.blockBytes() + ")");
        }
        if (Long.compareUnsigned(base + length, base) <= 0) { // the range wraps around the address space
            throw new InvalidEndpointInfoException("endpoint_info: base_address + length overflows");
        }
        return new ArenaDescriptor(info.getWorkerAddress().toByteArray(), info.getRkey().toByteArray(), base,
                length, layout);
    }

    private static void checkBlob(String name, ByteString b) {
        if (b.isEmpty()) {
            throw new InvalidEndpointInfoException("endpoint_info." + name + ": empty");
        }
        if (b.size() > MAX_BLOB) {
            throw new InvalidEndpointInfoException("endpoint_info." + name + ": " + b.size() + " bytes (expected: <= "
                    + MAX_BLOB + ")");
        }
    }

    static KvLayoutInfo toProto(KvBlockLayout l) {
        return KvLayoutInfo.newBuilder()
                .setDtype(l.dtype())
                .setNumLayers(l.numLayers())
                .setNumKvHeads(l.numKvHeads())
                .setHeadDim(l.headDim())
                .setBlockSize(l.blockSize())
                .setBlockBytes(l.blockBytes())
                .setLayerStride(l.layerStride())
                .setKvStride(l.kvStride())
                .setHeadStride(l.headStride())
                .setTokenStride(l.tokenStride())
                .build();
    }

    private static Map<String, Object> fields(KvLayoutInfo p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dtype", p.getDtype());
        m.put("num_layers", p.getNumLayers());
        m.put("num_kv_heads", p.getNumKvHeads());
        m.put("head_dim", p.getHeadDim());
        m.put("block_size", p.getBlockSize());
        m.put("block_bytes", p.getBlockBytes());
        m.put("layer_stride", p.getLayerStride());
        m.put("kv_stride", p.getKvStride());
        m.put("head_stride", p.getHeadStride());
        m.put("token_stride", p.getTokenStride());
        return m;
    }
}
