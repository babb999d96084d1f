package io.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StopCheckerTest {

    /** Feeds pieces; returns everything emitted (finish() included unless stopped) and the matched stop. */
    private static String[] run(List<String> stops, String... pieces) {
        StopChecker c = new StopChecker(stops);
        StringBuilder out = new StringBuilder();
        for (String piece : pieces) {
            StopChecker.Result r = c.feed(piece);
            out.append(r.text());
            if (r.stopped()) {
                return new String[] {out.toString(), r.matchedStop()};
            }
        }
        out.append(c.finish());
        return new String[] {out.toString(), null};
    }

    @Test
    void withoutStopsEverythingPassesThrough() {
        StopChecker c = new StopChecker(List.of());
        assertThat(c.feed("Hello").text()).isEqualTo("Hello");
        assertThat(c.feed(" wor").text()).isEqualTo(" wor");
        assertThat(c.finish()).isEmpty();
    }

    @Test
    void holdsBackOnlyAPossibleStopPrefix() {
        StopChecker c = new StopChecker(List.of("\n\n"));
        assertThat(c.feed("Hello").text()).isEqualTo("Hello"); // no false hold-back
        StopChecker.Result r = c.feed(" world\n");
        assertThat(r.text()).isEqualTo(" world");
        assertThat(r.stopped()).isFalse();
        assertThat(c.feed("Next").text()).isEqualTo("\nNext"); // the held "\n" was not a stop after all
        assertThat(c.feed("\n").text()).isEmpty();
        assertThat(c.finish()).isEqualTo("\n"); // released at the end
        assertThat(c.isFinished()).isTrue();
    }

    @Test
    void stopSplitAcrossPiecesIsFoundAndExcluded() {
        StopChecker c = new StopChecker(List.of("###"));
        assertThat(c.feed("Hello #").text()).isEqualTo("Hello ");
        assertThat(c.feed("#").text()).isEmpty();
        StopChecker.Result r = c.feed("# world");
        assertThat(r.stopped()).isTrue();
        assertThat(r.text()).isEmpty();
        assertThat(r.matchedStop()).isEqualTo("###");
        assertThat(c.finish()).isEmpty();
        assertThatThrownBy(() -> c.feed("more")).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void stopInsideAPieceTruncatesBeforeIt() {
        assertThat(run(List.of("END"), "abc", "deENDfgh")).containsExactly("abcde", "END");
        assertThat(run(List.of("END"), "END")).containsExactly("", "END");
    }

    @Test
    void multipleStopsReportWhichMatched() {
        List<String> stops = List.of("END", "STOP");
        assertThat(run(stops, "abcSTO", "P more")).containsExactly("abc", "STOP");
        assertThat(run(stops, "x EN", "D y")).containsExactly("x ", "END");
        assertThat(run(stops, "no stop here")).containsExactly("no stop here", null);
    }

    @Test
    void theStopThatEndsFirstWinsWhateverTheChunking() {
        // "bc" completes before "abcd" when text arrives character by character, so it must also win when
        // "abcd" arrives in one piece.
        List<String> stops = List.of("abcd", "bc");
        assertThat(run(stops, "xabcd")).containsExactly("xa", "bc");
        assertThat(run(stops, "x", "a", "b", "c", "d")).containsExactly("xa", "bc");
        // same end: the longer (earlier starting) one wins
        assertThat(run(List.of("c", "abc"), "zabc")).containsExactly("z", "abc");
    }

    @Test
    void overlappingSelfPrefixesAreHeldCorrectly() {
        // "aab" inside "aaab": after "aaa" only "aa" may be held, the first "a" is emitted.
        StopChecker c = new StopChecker(List.of("aab"));
        assertThat(c.feed("aa").text()).isEmpty();
        assertThat(c.feed("a").text()).isEqualTo("a");
        StopChecker.Result r = c.feed("b");
        assertThat(r.stopped()).isTrue();
        assertThat(r.text()).isEmpty();
        // a shorter stop that is a prefix of a longer one
        assertThat(run(List.of("ab", "abc"), "xa", "bc")).containsExactly("x", "ab");
    }

    @Test
    void rejectsEmptyStops() {
        assertThatThrownBy(() -> new StopChecker(List.of("a", ""))).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("stops[1]: empty (expected: non-empty strings)");
    }

    /** Reference: truncate before the earliest-ending occurrence (ties: earliest start) of any stop. */
    private static String[] reference(List<String> stops, String text) {
        int bestStart = -1;
        int bestEnd = Integer.MAX_VALUE;
        String best = null;
        for (String s : stops) {
            int i = text.indexOf(s);
            if (i >= 0 && (i + s.length() < bestEnd || (i + s.length() == bestEnd && i < bestStart))) {
                bestStart = i;
                bestEnd = i + s.length();
                best = s;
            }
        }
        return best == null ? new String[] {text, null} : new String[] {text.substring(0, bestStart), best};
    }

    @Test
    void randomChunkingsAgreeWithTheReference() {
        Random r = new Random(99);
        for (int round = 0; round < 3000; round++) {
            List<String> stops = new ArrayList<>();
            int nStops = r.nextInt(4);
            for (int i = 0; i < nStops; i++) {
                stops.add(randomText(r, 1 + r.nextInt(4)));
            }
            String text = randomText(r, r.nextInt(30));
            List<String> pieces = new ArrayList<>();
            for (int i = 0; i < text.length(); ) {
                int len = Math.min(text.length() - i, r.nextInt(6)); // empty pieces included
                pieces.add(text.substring(i, i + len));
                i += len;
            }
            assertThat(run(stops, pieces.toArray(String[]::new))).as("stops %s, pieces %s", stops, pieces)
                    .containsExactly(reference(stops, text));
        }
    }

    private static String randomText(Random r, int len) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < len; i++) {
            sb.append("abc".charAt(r.nextInt(3)));
        }
        return sb.toString();
    }
}
