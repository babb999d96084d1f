package io.tandem.controller.pairing;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** LMDeploy's MigrationProtocol; an integer on the wire (TCP=1, RDMA=2, NVLINK=3). */
public enum MigrationProtocol {
    TCP(1),
    RDMA(2),
    NVLINK(3);

    private final int wire;

    MigrationProtocol(int wire) {
        this.wire = wire;
    }

    @JsonValue
    public int wire() {
        return wire;
    }

    @JsonCreator
    public static MigrationProtocol fromWire(int value) {
        for (MigrationProtocol p : values()) {
            if (p.wire == value) {
                return p;
            }
        }
        throw new IllegalArgumentException("protocol: " + value + " (expected: 1 TCP, 2 RDMA or 3 NVLINK)");
    }
}
