package io.tandem.agent.service;

import io.tandem.engine.scheduler.GenerationResult;
import io.tandem.engine.scheduler.TokenOutput;

/** What one choice of a submission produced: a token, then exactly one finish. */
public sealed interface GenerationEvent {
    /** The choice (0..n-1, prompt-major for several prompts). */
    int index();

    record Token(int index, TokenOutput token) implements GenerationEvent {
    }

    record Finished(int index, GenerationResult result) implements GenerationEvent {
    }
}
