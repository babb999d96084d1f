package io.tandem.controller.grpc;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;

/**
 * The ClusterControl service on a TCP port (Netty transport), for agents started with {@code --controller HOST:PORT}.
 * The proxy starts one next to its HTTP port. Thread-safe.
 */
public final class ClusterControlServer implements AutoCloseable {
    private final Server server;
    private final ClusterControlService service;

    private ClusterControlServer(Server server, ClusterControlService service) {
        this.server = server;
        this.service = service;
    }

    /** Binds {@code port} (0 = any free port) on all interfaces and starts serving. */
    public static ClusterControlServer start(int port, ClusterControlService service) throws IOException {
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 0..65535)");
        }
        Server server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create())
                .addService(service)
                .build()
                .start();
        return new ClusterControlServer(server, service);
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        service.shutdown();
        server.shutdown();
        try {
            if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
