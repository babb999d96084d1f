package io.tandem.proxy.security;

import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/** Addresses and CIDR blocks ("10.0.0.0/8", "127.0.0.1", "::1"); empty allows everyone. Immutable, thread-safe. */
public final class IpAllowlist {
    private record Block(byte[] network, int prefix) {}

    private final List<Block> blocks;

    public IpAllowlist(List<String> entries) {
        this.blocks = entries.stream().map(IpAllowlist::parse).toList();
    }

    public boolean isEmpty() {
        return blocks.isEmpty();
    }

    public boolean allows(InetAddress address) {
        if (blocks.isEmpty()) {
            return true;
        }
        byte[] a = address.getAddress();
        for (Block b : blocks) {
            if (b.network.length == a.length && samePrefix(a, b.network, b.prefix)) {
                return true;
            }
        }
        return false;
    }

    private static boolean samePrefix(byte[] a, byte[] b, int bits) {
        BigInteger mask = BigInteger.ONE.shiftLeft(a.length * 8).subtract(BigInteger.ONE)
                .shiftRight(bits).not();
        return new BigInteger(1, a).and(mask).equals(new BigInteger(1, b).and(mask));
    }

    private static Block parse(String entry) {
        String s = entry.strip();
        int slash = s.indexOf('/');
        String host = slash < 0 ? s : s.substring(0, slash);
        if (!host.matches("[0-9a-fA-F:.]+")) {
            throw new IllegalArgumentException("tandem.proxy.allowed-ips: '" + entry
                    + "' (expected: an IP address or CIDR block, e.g. 10.0.0.0/8)");
        }
        byte[] addr;
        try {
            addr = InetAddress.getByName(host).getAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("tandem.proxy.allowed-ips: '" + entry + "' (not an IP address)", e);
        }
        int prefix = addr.length * 8;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(s.substring(slash + 1));
            } catch (NumberFormatException e) {
                prefix = -1;
            }
            if (prefix < 0 || prefix > addr.length * 8) {
                throw new IllegalArgumentException("tandem.proxy.allowed-ips: '" + entry + "' (prefix expected: 0.."
                        + addr.length * 8 + ")");
            }
        }
        return new Block(addr, prefix);
    }
}
