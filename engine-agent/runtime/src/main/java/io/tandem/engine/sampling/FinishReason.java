package io.tandem.engine.sampling;

/**
 * Why a request stopped generating, with the string the OpenAI API (and vLLM) put in {@code finish_reason}.
 */
public enum FinishReason {
    /** An end-of-generation token, a {@code stop_token_ids} token or a stop string. */
    STOP("stop"),
    /** {@code max_tokens} or the context window was reached. */
    LENGTH("length"),
    /** The client went away or the request was cancelled; vLLM reports {@code "abort"}. */
    ABORT("abort");

    private final String wireName;

    FinishReason(String wireName) {
        this.wireName = wireName;
    }

    /** The value of {@code finish_reason} on the wire. */
    public String wireName() {
        return wireName;
    }

    /**
     * The constant for a wire value.
     *
     * @throws IllegalArgumentException for anything but {@code stop}, {@code length} or {@code abort}
     */
    public static FinishReason fromWireName(String wireName) {
        for (FinishReason r : values()) {
            if (r.wireName.equals(wireName)) {
                return r;
            }
        }
        throw new IllegalArgumentException("finish_reason: " + wireName + " (expected: stop, length or abort)");
    }
}
