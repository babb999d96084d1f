package io.tandem.kv.errors;

/**
 * Two engines whose KV blocks are laid out differently cannot exchange blocks. {@link #field()} names the
 * first differing field, in the snake_case of the wire form ({@code block_size}, {@code dtype}, ...).
 */
public final class LayoutMismatchException extends KvTransferException {

    private final String field;

    public LayoutMismatchException(String field, Object local, Object remote) {
        super("KV layout mismatch: " + field + ": " + local + " here, " + remote + " on the peer");
        this.field = field;
    }

    /** The first field that differs, e.g. {@code "block_size"}. */
    public String field() {
        return field;
    }
}
