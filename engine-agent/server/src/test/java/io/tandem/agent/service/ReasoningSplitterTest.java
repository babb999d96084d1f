package io.tandem.agent.service;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ReasoningSplitterTest {
    static final int START = 10;
    static final int END = 11;

    static String[] run(ReasoningSplitter s, int[] ids, String[] texts) {
        StringBuilder r = new StringBuilder();
        StringBuilder c = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            ReasoningSplitter.Part p = s.accept(ids[i], texts[i]);
            r.append(p.reasoning());
            c.append(p.content());
        }
        return new String[] {r.toString(), c.toString()};
    }

    @Test
    void thinkBlock_goesToReasoning_restToContent() {
        String[] out = run(new ReasoningSplitter(START, END, false), new int[] {START, 1, 2, END, 3},
                new String[] {"", "let me ", "think", "", "Answer"});
        assertThat(out).containsExactly("let me think", "Answer");
    }

    @Test
    void promptOpenedThink_startsInReasoning() {
        String[] out = run(new ReasoningSplitter(START, END, true), new int[] {1, END, 2}, new String[] {"hm", "", "ok"});
        assertThat(out).containsExactly("hm", "ok");
    }

    @Test
    void noMarkers_allContent() {
        String[] out = run(new ReasoningSplitter(START, END, false), new int[] {1, 2}, new String[] {"a", "b"});
        assertThat(out).containsExactly("", "ab");
    }
}
