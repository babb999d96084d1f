package io.tandem.kv.ucx;

import java.util.Map;

/** The transport contract over UCX's shared-memory transports (posix mapping, cross-memory attach, self). */
class UcxSharedMemoryTransportIT extends UcxTransportContractIT {

    @Override
    Map<String, String> ucxConfig() {
        return Map.of("TLS", "posix,cma,self");
    }

    @Override
    boolean mapsPeerArena() {
        return true;
    }
}
