package io.tandem.agent.http;

import io.tandem.agent.api.ChatCompletion;
import io.tandem.agent.service.ReasoningSplitter;
import io.tandem.engine.sampling.TopLogprob;
import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;
import io.tandem.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What one choice has produced so far, for building the final non-streaming answer. Not thread-safe: events of a
 * submission arrive serialized.
 */
final class ChoiceState {
    final StringBuilder content = new StringBuilder();
    final StringBuilder reasoning = new StringBuilder();
    final List<Integer> tokenIds = new ArrayList<>();
    final List<TokenOutput> tokens = new ArrayList<>();
    final ReasoningSplitter splitter;
    GenerationResult result;

    ChoiceState(ReasoningSplitter splitter) {
        this.splitter = splitter;
    }

    /** Splits a token's text between reasoning and content. */
    ReasoningSplitter.Part split(TokenOutput t) {
        return splitter == null ? new ReasoningSplitter.Part("", t.text()) : splitter.accept(t.tokenId(), t.text());
    }

    static String tokenString(Tokenizer tok, int id) {
        return new String(tok.tokenBytes(id), StandardCharsets.UTF_8);
    }

    static List<Integer> bytes(Tokenizer tok, int id) {
        byte[] b = tok.tokenBytes(id);
        List<Integer> out = new ArrayList<>(b.length);
        for (byte x : b) {
            out.add(x & 0xff);
        }
        return out;
    }

    static ChatCompletion.TokenLogprob chatLogprob(Tokenizer tok, TokenOutput t) {
        List<ChatCompletion.TopLogprob> top = new ArrayList<>();
        if (t.top() != null) {
            for (TopLogprob tl : t.top()) {
                top.add(new ChatCompletion.TopLogprob(tokenString(tok, tl.token()), tl.logprob(), bytes(tok, tl.token())));
            }
        }
        return new ChatCompletion.TokenLogprob(tokenString(tok, t.tokenId()), t.logprob(), bytes(tok, t.tokenId()), top);
    }

    static List<Integer> boxed(int[] ids) {
        List<Integer> out = new ArrayList<>(ids.length);
        for (int id : ids) {
            out.add(id);
        }
        return out;
    }
}
