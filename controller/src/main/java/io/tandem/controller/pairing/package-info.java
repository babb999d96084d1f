/**
 * DistServe pairing: the {@link io.tandem.controller.pairing.ConnectionPool} (one handshake per prefill/decode pair,
 * shared by concurrent first uses, retried with backoff, dropped with the node), the
 * {@link io.tandem.controller.pairing.SessionTable} that frees leaked prefill blocks, and the {@code /distserve/*}
 * wire records and HTTP client.
 */
package io.tandem.controller.pairing;
