package io.tandem.controller.internal;

import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.CompletionException;

import io.tandem.controller.errors.AgentCallException;

/** How the controller's HTTP clients report a call that got no answer. */
public final class HttpFailures {
    private HttpFailures() {}

    /** {@code what} (e.g. "POST http://n/x") failed before any answer: timed out, refused or reset. */
    public static AgentCallException noAnswer(String what, Throwable error, Duration timeout) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        boolean timedOut = cause instanceof HttpTimeoutException;
        return new AgentCallException(what + (timedOut ? " timed out after " + timeout.toMillis() + " ms"
                : " failed: " + cause), -1, timedOut, cause);
    }
}
