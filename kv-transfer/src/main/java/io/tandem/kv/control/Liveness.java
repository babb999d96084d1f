package io.tandem.kv.control;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which peers we have heard from recently. A peer is dead once nothing (no pong, no ping, no message) has come
 * from it for {@code deadAfterNanos}, and alive again as soon as anything does. Pure bookkeeping driven by the
 * caller's clock, so it is tested without sleeping. Not thread-safe: owned by the control thread.
 */
final class Liveness {

    private final long deadAfterNanos;
    private final Map<String, State> peers = new HashMap<>();

    private static final class State {
        long lastHeard;
        boolean alive = true;
    }

    Liveness(long deadAfterNanos) {
        if (deadAfterNanos <= 0) {
            throw new IllegalArgumentException("deadAfterNanos: " + deadAfterNanos + " (expected: > 0)");
        }
        this.deadAfterNanos = deadAfterNanos;
    }

    /** Starts tracking a peer; it counts as alive until {@code deadAfterNanos} from {@code now}. */
    void add(String peer, long now) {
        State s = new State();
        s.lastHeard = now;
        peers.put(peer, s);
    }

    void remove(String peer) {
        peers.remove(peer);
    }

    boolean contains(String peer) {
        return peers.containsKey(peer);
    }

    /** Records that something came from the peer; true when this brings a dead peer back. */
    boolean heard(String peer, long now) {
        State s = peers.get(peer);
        if (s == null) {
            return false;
        }
        s.lastHeard = now;
        if (!s.alive) {
            s.alive = true;
            return true;
        }
        return false;
    }

    /** The peers that have just crossed the silence limit (each reported once per death). */
    List<String> newlyDead(long now) {
        List<String> dead = new ArrayList<>();
        for (var e : peers.entrySet()) {
            State s = e.getValue();
            if (s.alive && now - s.lastHeard > deadAfterNanos) {
                s.alive = false;
                dead.add(e.getKey());
            }
        }
        return dead;
    }

    /** The silence after which a peer counts as dead. */
    long deadAfterNanos() {
        return deadAfterNanos;
    }

    boolean isAlive(String peer) {
        State s = peers.get(peer);
        return s != null && s.alive;
    }
}
