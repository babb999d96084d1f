package io.tandem.proxy.routing;

import reactor.core.publisher.Flux;

/** What goes back to the client: a whole body, or a stream whose first byte is already in hand. */
sealed interface Answer {
    int status();

    String contentType();

    record Whole(int status, String contentType, byte[] body) implements Answer {}

    record Stream(int status, String contentType, Flux<byte[]> body) implements Answer {}
}
