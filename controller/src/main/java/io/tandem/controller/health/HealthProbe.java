package io.tandem.controller.health;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * One health check of one node. Implementations never complete exceptionally: a failure is a
 * {@link ProbeResult} with {@code healthy == false} and a reason.
 */
@FunctionalInterface
public interface HealthProbe {
    CompletableFuture<ProbeResult> probe(String nodeUrl);

    /**
     * The outcome of one probe.
     *
     * @param weightsVersion the weights version the node named ({@code X-Tandem-Weights-Version}); empty when it
     *                       named none (not our agent, or no answer)
     */
    record ProbeResult(boolean healthy, String reason, boolean timedOut, Optional<String> weightsVersion) {
        public ProbeResult(boolean healthy, String reason, boolean timedOut) {
            this(healthy, reason, timedOut, Optional.empty());
        }

        public ProbeResult(boolean healthy, String reason) {
            this(healthy, reason, false);
        }

        public static ProbeResult ok() {
            return new ProbeResult(true, "");
        }

        /** Healthy, serving the named weights (if named). */
        public static ProbeResult ok(Optional<String> weightsVersion) {
            return new ProbeResult(true, "", false, weightsVersion);
        }

        /** No answer in time: the node may be dead or only busy (the registry decides with what else it knows). */
        public static ProbeResult timedOut(String reason) {
            return new ProbeResult(false, reason, true);
        }

        public static ProbeResult failed(String reason) {
            return new ProbeResult(false, reason);
        }
    }
}
