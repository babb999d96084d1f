package io.tandem.kv.layout;

/** A prefill rank that must connect to a decode rank, because they hold some of the same (layer, head) KV. */
public record RankPair(int prefillRank, int decodeRank) {
}
