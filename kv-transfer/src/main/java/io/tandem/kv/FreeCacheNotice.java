package io.tandem.kv;

/**
 * A peer (the decode engine) says that it no longer needs the blocks this engine holds for a session.
 *
 * @param fromEngineId the peer's engine id, as given to {@link KvTransferEngine#connect}
 * @param sessionId this engine's session id (LMDeploy's {@code remote_session_id} on the decode side)
 */
public record FreeCacheNotice(String fromEngineId, long sessionId) {
}
