package io.tandem.engine.errors;

/**
 * A GGUF file, or metadata read from one, is malformed or not what the caller needs: bad magic, an unsupported
 * version or tensor type, a count or length that runs past the end of the file, tensor data out of range, a
 * missing or wrongly typed metadata key.
 *
 * <p>Messages are meant for an operator looking at a log line without a debugger: each starts with the file,
 * then names the tensor or metadata key involved and the offending value, e.g.
 * {@code stories.gguf: tensor 'blk.0.attn_q.weight': unsupported tensor type id 19 (supported: F32, F16, ...)}.
 */
public class GgufFormatException extends EngineException {
    public GgufFormatException(String message) {
        super(message);
    }

    public GgufFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
