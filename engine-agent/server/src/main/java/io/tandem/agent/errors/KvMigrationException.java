package io.tandem.agent.errors;

import io.micronaut.http.HttpStatus;
import io.tandem.kv.errors.TransferTimeoutException;

/**
 * Pulling a request's KV cache from the prefill agent failed: the peer died or broke its connection (502), or the
 * pull outlived {@code tandem.agent.migration-timeout} (504). The decode agent has freed the request's blocks and
 * keeps serving; the proxy may retry with a fresh prefill.
 */
public final class KvMigrationException extends ApiException {
    private final boolean timeout;

    public KvMigrationException(String message, boolean timeout) {
        super(message, "migration_request");
        this.timeout = timeout;
    }

    /** Classifies an engine-side failure by its cause chain (a transfer timeout anywhere in it means 504). */
    public static KvMigrationException of(Throwable failure) {
        boolean timeout = false;
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof TransferTimeoutException) {
                timeout = true;
                break;
            }
        }
        return new KvMigrationException(failure.getMessage(), timeout);
    }

    @Override
    public HttpStatus status() {
        return timeout ? HttpStatus.GATEWAY_TIMEOUT : HttpStatus.BAD_GATEWAY;
    }

    @Override
    public String type() {
        return "server_error";
    }

    @Override
    public String code() {
        return timeout ? "kv_migration_timeout" : "kv_migration_failed";
    }
}
