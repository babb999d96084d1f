package io.tandem.proxy.upstream;

/** A node's whole answer: status, content type ({@code application/json} if it sent none) and body. */
public record Buffered(int status, String contentType, byte[] body) {}
