package io.tandem.proxy.upstream;

import java.io.IOException;

/** A node took the request but sent no answer headers within the upstream timeout (the proxy answers 504). */
public final class HeadersTimeoutException extends IOException {
    public HeadersTimeoutException(String message) {
        super(message);
    }
}
