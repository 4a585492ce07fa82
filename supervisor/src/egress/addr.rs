//! Which IP addresses the sandbox may reach: never the host's own, private, link-local, CGNAT,
//! multicast, reserved or unique-local ranges, nor the cloud metadata endpoints, unless the
//! profile's `allow_cidrs` names them. Applied to literal addresses and to every address a name
//! resolves to (so DNS rebinding gains nothing).

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;

/// Ranges refused unless `allow_cidrs` covers the address; the most specific come first so a
/// refusal names the most useful reason.
const BLOCKED: &[(&str, &str)] = &[
    ("169.254.169.254/32", "cloud metadata endpoint"),
    ("100.100.100.200/32", "cloud metadata endpoint"),
    ("fd00:ec2::254/128", "cloud metadata endpoint"),
    ("0.0.0.0/8", "this-network (0.0.0.0/8)"),
    ("10.0.0.0/8", "private (10.0.0.0/8)"),
    ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
    ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
    ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
    ("172.16.0.0/12", "private (172.16.0.0/12)"),
    ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
    ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
    ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
    ("192.168.0.0/16", "private (192.168.0.0/16)"),
    ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
    ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
    ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
    ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4, broadcast included)"),
    ("::1/128", "loopback (::1)"),
    ("::/128", "unspecified (::)"),
    // IPv4-compatible (deprecated) addresses embed an IPv4 address the rules above would judge.
    ("::/96", "IPv4-compatible (::/96)"),
    (
        "64:ff9b::/96",
        "NAT64, embeds an IPv4 address (64:ff9b::/96)",
    ),
    ("64:ff9b:1::/48", "local NAT64 (64:ff9b:1::/48)"),
    ("100::/64", "discard-only (100::/64)"),
    (
        "2001::/23",
        "IETF protocol assignments, Teredo included (2001::/23)",
    ),
    ("2001:db8::/32", "documentation (2001:db8::/32)"),
    ("2002::/16", "6to4, embeds an IPv4 address (2002::/16)"),
    ("fc00::/7", "unique-local (fc00::/7)"),
    ("fe80::/10", "link-local (fe80::/10)"),
    ("fec0::/10", "site-local (fec0::/10)"),
    ("ff00::/8", "multicast (ff00::/8)"),
];

static BLOCKED_NETS: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    BLOCKED
        .iter()
        .filter_map(|(net, why)| Some((net.parse().ok()?, *why)))
        .collect()
});

/// The blocked range `ip` falls in, if any (after unwrapping an IPv4-mapped IPv6 address).
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    let ip = ip.to_canonical();
    BLOCKED_NETS
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, why)| *why)
}

/// Is `ip` inside one of the profile's explicit ranges? IPv4-mapped IPv6 addresses are judged
/// as the IPv4 address they carry.
pub fn in_cidrs(cidrs: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    cidrs.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_parses() {
        assert_eq!(BLOCKED_NETS.len(), BLOCKED.len());
    }

    #[test]
    fn private_and_special_addresses_are_blocked() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(blocked_range(ip).is_some(), "{ip}");
        }
        assert_eq!(
            blocked_range("169.254.169.254".parse().unwrap()),
            Some("cloud metadata endpoint")
        );
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["1.1.1.1", "151.101.1.1", "2606:4700::1111", "2a00:1450::1"] {
            assert_eq!(blocked_range(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn cidrs_match_mapped_addresses() {
        let cidrs: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        assert!(in_cidrs(&cidrs, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!in_cidrs(&cidrs, "127.0.0.2".parse().unwrap()));
    }
}
