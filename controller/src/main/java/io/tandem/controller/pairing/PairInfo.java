package io.tandem.controller.pairing;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * An immutable view of one pair.
 *
 * @param key         the pair
 * @param state       where its connection stands
 * @param attempts    handshakes tried since the last success
 * @param lastError   why the last handshake failed ("" if none did)
 * @param retryAt     when a FAILED pair may be tried again
 * @param connectedAt when it connected, if it is CONNECTED
 * @param elapsed     how long the last finished handshake took
 */
public record PairInfo(PairKey key, PairState state, int attempts, String lastError, Instant retryAt,
                       Optional<Instant> connectedAt, Duration elapsed) {}
