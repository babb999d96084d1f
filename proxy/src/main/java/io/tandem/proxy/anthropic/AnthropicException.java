package io.tandem.proxy.anthropic;

/**
 * A failure answered on the Anthropic route as {@code {"type":"error","error":{"type", "message"}}} with
 * {@link #status}. Types: invalid_request_error (400), authentication_error (401), permission_error (403),
 * not_found_error (404), rate_limit_error (429), api_error (500, 502, 504), overloaded_error (503).
 */
public final class AnthropicException extends RuntimeException {
    private final int status;
    private final String type;

    public AnthropicException(int status, String type, String message) {
        super(message);
        this.status = status;
        this.type = type;
    }

    static AnthropicException invalid(String message) {
        return new AnthropicException(400, "invalid_request_error", message);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }
}
