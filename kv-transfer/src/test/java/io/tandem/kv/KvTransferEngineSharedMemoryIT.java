package io.tandem.kv;

/** The engine contract over UCX's shared-memory transports. */
class KvTransferEngineSharedMemoryIT extends KvTransferEngineContractIT {

    @Override
    String tls() {
        return "posix,cma,self";
    }
}
