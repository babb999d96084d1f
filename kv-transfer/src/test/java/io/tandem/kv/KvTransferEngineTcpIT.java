package io.tandem.kv;

/** The engine contract over UCX's TCP transport on loopback. */
class KvTransferEngineTcpIT extends KvTransferEngineContractIT {

    @Override
    String tls() {
        return "tcp";
    }
}
