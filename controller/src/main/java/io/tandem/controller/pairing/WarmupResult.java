package io.tandem.controller.pairing;

import java.time.Duration;

/**
 * One line of the {@code /distserve/connection_warmup} report.
 *
 * @param prefillUrl the prefill engine
 * @param decodeUrl  the decode engine
 * @param connected  whether the pair is connected now
 * @param error      why not ("" when connected)
 * @param elapsed    how long the handshake took (zero when it was already connected)
 */
public record WarmupResult(String prefillUrl, String decodeUrl, boolean connected, String error, Duration elapsed) {}
