package io.tandem.kv.errors;

/** Prefill and decode parallel layouts (tp/pp and model geometry) that cannot be paired rank to rank. */
public final class IncompatibleParallelLayoutException extends KvTransferException {

    public IncompatibleParallelLayoutException(String message) {
        super(message);
    }
}
