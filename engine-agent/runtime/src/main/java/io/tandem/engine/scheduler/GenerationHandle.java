package io.tandem.engine.scheduler;

import java.util.concurrent.CompletableFuture;

/** A submitted request: its id (for {@link Engine#abort(String)}) and its eventual result. */
public record GenerationHandle(String requestId, CompletableFuture<GenerationResult> result) {
}
