package io.tandem.proxy.http;

import io.micronaut.http.HttpRequest;
import io.micronaut.http.server.netty.NettyHttpRequest;
import io.netty.channel.Channel;

/** The Netty channel a request came in on: the router makes its calls to nodes on that channel's event loop. */
public final class Inbound {
    private Inbound() {}

    public static Channel channel(HttpRequest<?> request) {
        if (request instanceof NettyHttpRequest<?> netty) {
            return netty.getChannelHandlerContext().channel();
        }
        throw new IllegalStateException("request " + request.getClass().getName()
                + " (expected: the Netty server's NettyHttpRequest)");
    }
}
