package io.tandem.kv.control;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LivenessTest {

    @Test
    void silentPeer_isReportedDeadOnce_andComesBackWhenHeard() {
        Liveness l = new Liveness(3_000);
        l.add("p", 0);
        assertThat(l.newlyDead(3_000)).isEmpty();
        assertThat(l.isAlive("p")).isTrue();
        assertThat(l.newlyDead(3_001)).containsExactly("p");
        assertThat(l.newlyDead(9_000)).isEmpty();
        assertThat(l.isAlive("p")).isFalse();
        assertThat(l.heard("p", 9_500)).isTrue();
        assertThat(l.isAlive("p")).isTrue();
        assertThat(l.heard("p", 9_600)).isFalse();
    }

    @Test
    void hearing_postponesDeath() {
        Liveness l = new Liveness(3_000);
        l.add("p", 0);
        l.heard("p", 2_000);
        assertThat(l.newlyDead(4_000)).isEmpty();
        assertThat(l.newlyDead(5_001)).containsExactly("p");
    }

    @Test
    void unknownPeers_areNeitherAliveNorTracked() {
        Liveness l = new Liveness(1);
        assertThat(l.heard("x", 0)).isFalse();
        assertThat(l.isAlive("x")).isFalse();
        l.add("x", 0);
        l.remove("x");
        assertThat(l.newlyDead(100)).isEmpty();
    }
}
