package io.tandem.proxy.routing;

/** What goes back to the client: a whole body, or a stream whose first byte is already in hand. */
sealed interface Answer {
    int status();

    String contentType();

    record Whole(int status, String contentType, byte[] body) implements Answer {}

    record Stream(int status, String contentType, StreamRelay body) implements Answer {}
}
