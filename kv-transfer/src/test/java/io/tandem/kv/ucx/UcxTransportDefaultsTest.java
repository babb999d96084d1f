package io.tandem.kv.ucx;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class UcxTransportDefaultsTest {

    private static final Map<String, String> ADDRESS_V2 = Map.of("ADDRESS_VERSION", "v2");

    @Test
    void withDefaults_addsTcpSegmentsToTheCallersSettings() {
        assertThat(UcxTransport.withDefaults(Map.of("TLS", "tcp"), Map.of()))
                .containsEntry("TLS", "tcp")
                .containsEntry("TX_SEG_SIZE", "512K")
                .containsEntry("RX_SEG_SIZE", "512K")
                .containsEntry("ADDRESS_VERSION", "v2");
    }

    @Test
    void withDefaults_dropsBothSegmentSizesWhenTheCallerSetsOne() {
        // TCP refuses TX > RX, so our RX default must not be combined with the caller's TX.
        assertThat(UcxTransport.withDefaults(Map.of("TX_SEG_SIZE", "1M"), Map.of()))
                .isEqualTo(Map.of("TX_SEG_SIZE", "1M", "ADDRESS_VERSION", "v2"));
    }

    @Test
    void withDefaults_leavesSegmentsToTheEnvironmentWhenItSetsOne() {
        assertThat(UcxTransport.withDefaults(Map.of(), Map.of("UCX_TCP_RX_SEG_SIZE", "128K")))
                .isEqualTo(ADDRESS_V2);
    }

    @Test
    void withDefaults_leavesThemOutWhenTcpIsNotAmongTheTransports() {
        assertThat(UcxTransport.withDefaults(Map.of("TLS", "posix,cma,self"), Map.of()))
                .isEqualTo(Map.of("TLS", "posix,cma,self", "ADDRESS_VERSION", "v2"));
        assertThat(UcxTransport.withDefaults(Map.of(), Map.of("UCX_TLS", "sm"))).isEqualTo(ADDRESS_V2);
    }

    @Test
    void withDefaults_keepsTheCallersOrTheEnvironmentsAddressVersion() {
        assertThat(UcxTransport.withDefaults(Map.of("TLS", "sm", "ADDRESS_VERSION", "v1"), Map.of()))
                .isEqualTo(Map.of("TLS", "sm", "ADDRESS_VERSION", "v1"));
        assertThat(UcxTransport.withDefaults(Map.of("TLS", "sm"), Map.of("UCX_ADDRESS_VERSION", "v1")))
                .isEqualTo(Map.of("TLS", "sm"));
    }

    @Test
    void mayUseTcp_readsUcxTlsLists() {
        assertThat(UcxTransport.mayUseTcp(null)).isTrue();
        assertThat(UcxTransport.mayUseTcp("all")).isTrue();
        assertThat(UcxTransport.mayUseTcp("tcp")).isTrue();
        assertThat(UcxTransport.mayUseTcp("\\tcp,self")).isTrue();
        assertThat(UcxTransport.mayUseTcp("^posix")).isTrue();
        assertThat(UcxTransport.mayUseTcp("^tcp")).isFalse();
        assertThat(UcxTransport.mayUseTcp("posix,cma,self")).isFalse();
    }
}
