package io.tandem.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Properties;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The proxy's command line as configuration properties. */
class ProxyMainTest {

    @Test
    void eventLoops_onePerCore_unlessTheEnvironmentOrASystemPropertySetsThem() {
        assertThat(ProxyMain.defaultEventLoopThreads(Map.of(), new Properties()))
                .isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(ProxyMain.defaultEventLoopThreads(Map.of("MICRONAUT_NETTY_EVENT_LOOPS_DEFAULT_NUM_THREADS", "4"),
                new Properties())).isNull();
        Properties system = new Properties();
        system.setProperty(ProxyMain.EVENT_LOOP_THREADS, "4");
        assertThat(ProxyMain.defaultEventLoopThreads(Map.of(), system)).isNull();
    }

    @Test
    void eventLoopThreadsOption_winsOverTheDefault() {
        ProxyMain main = new ProxyMain();
        new CommandLine(main).parseArgs("--event-loop-threads", "3");
        assertThat(main.properties()).containsEntry(ProxyMain.EVENT_LOOP_THREADS, 3);
    }
}
