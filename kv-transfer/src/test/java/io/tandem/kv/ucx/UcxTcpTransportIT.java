package io.tandem.kv.ucx;

import java.util.Map;

/** The transport contract over UCX's TCP transport on the loopback device. */
class UcxTcpTransportIT extends UcxTransportContractIT {

    @Override
    Map<String, String> ucxConfig() {
        return Map.of("TLS", "tcp", "NET_DEVICES", "lo");
    }
}
