package io.tandem.agent.service;

import jakarta.inject.Singleton;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * LMDeploy's integer {@code session_id} to the engine request ids running under it, so that
 * {@code /abort_request} can find them. Entries live from submit to finish. Thread-safe.
 */
@Singleton
public final class SessionRegistry {
    private final Map<Long, Set<String>> bySession = new ConcurrentHashMap<>();

    void add(Long sessionId, String requestId) {
        bySession.computeIfAbsent(sessionId, k -> ConcurrentHashMap.newKeySet()).add(requestId);
    }

    void remove(Long sessionId, String requestId) {
        if (sessionId == null) {
            return;
        }
        bySession.computeIfPresent(sessionId, (k, set) -> {
            set.remove(requestId);
            return set.isEmpty() ? null : set;
        });
    }

    /** Request ids running under the session; empty when none. */
    public List<String> requests(long sessionId) {
        Set<String> s = bySession.get(sessionId);
        return s == null ? List.of() : List.copyOf(s);
    }
}
