package io.tandem.engine.errors;

/**
 * A weight update was refused: a malformed safetensors payload, an unknown tensor name, a wrong shape or dtype
 * (HTTP 400). {@link #tensorName()} names the offending tensor, or is null when the failure concerns the payload
 * as a whole (a truncated header). Whatever was staged before the failure has been discarded; the weights in use
 * are unchanged.
 */
public class WeightUpdateException extends EngineException {
    private final String tensorName;

    public WeightUpdateException(String tensorName, String message) {
        super(message);
        this.tensorName = tensorName;
    }

    public WeightUpdateException(String tensorName, String message, Throwable cause) {
        super(message, cause);
        this.tensorName = tensorName;
    }

    /** The tensor the failure is about, as the payload names it, or null for payload-wide failures. */
    public String tensorName() {
        return tensorName;
    }
}
