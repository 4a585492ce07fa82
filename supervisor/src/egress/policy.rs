//! The egress decision, shared by the proxy and `fetch`: parse the destination the client
//! named (every spelling of an IP address becomes that address), check it against the
//! profile's rules, resolve names through the vetted resolver and connect only to an address
//! that passed.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use tokio::net::TcpStream;

use super::addr::{blocked_range, in_cidrs};
use super::dns::Resolver;
use super::rules::{HostRule, normalize_name, valid_name};

/// How long one TCP connect to an upstream address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A destination host as the client named it, after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why a destination is not reached. The refusals name the rule that decided; the others are
/// failures of an allowed destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("{host}:{port} is not allowed by network.allow")]
    NotAllowed { host: String, port: u16 },
    #[error("{ip} is not allowed by network.allow_cidrs{}", range.map(|r| format!(" (blocked range: {r})")).unwrap_or_default())]
    AddressNotAllowed {
        ip: IpAddr,
        range: Option<&'static str>,
    },
    #[error("{host} resolves to {ip}, a blocked address ({range}) not in network.allow_cidrs")]
    BlockedResolution {
        host: String,
        ip: IpAddr,
        range: &'static str,
    },
    #[error("`{0}` is not a valid host name or IP address")]
    BadHost(String),
    #[error("{0}")]
    Protocol(String),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {host}: {reason}")]
    Connect { host: String, reason: String },
}

impl Denied {
    /// A policy refusal (HTTP 403 / SOCKS "not allowed by ruleset"), as opposed to a failure
    /// to reach an allowed destination.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Denied::Resolve { .. } | Denied::Connect { .. })
    }

    /// The rule that decided, for the event and audit logs: the key, and for an address the
    /// blocked range it falls in.
    /// The profile line that would let the workload reach `target` (`host:port`, as asked),
    /// for the denial report; `None` when no profile line would (an upstream failure).
    pub fn allow_with(&self, target: &str) -> Option<String> {
        let host = || {
            let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        };
        match self {
            Denied::NotAllowed { .. } => Some(format!("add \"{target}\" to [network] allow")),
            Denied::AddressNotAllowed { ip, .. } => {
                let bits = if ip.is_ipv6() { 128 } else { 32 };
                Some(format!("add \"{ip}/{bits}\" to [network] allow_cidrs"))
            }
            Denied::BlockedResolution { ip, .. } => Some(format!(
                "{} resolved to {ip}, in a blocked range: add \"{ip}/{}\" to [network] allow_cidrs, or pin \"{}\" in [network] hosts",
                host(),
                if ip.is_ipv6() { 128 } else { 32 },
                host()
            )),
            Denied::BadHost(_) | Denied::Protocol(_) => {
                Some("no profile rule: the request itself was malformed".into())
            }
            Denied::Resolve { .. } | Denied::Connect { .. } => None,
        }
    }

    pub fn rule(&self) -> String {
        match self {
            Denied::NotAllowed { .. } => "network.allow (no entry matches)".into(),
            Denied::AddressNotAllowed {
                range: Some(range), ..
            } => format!("blocked range {range}, not in network.allow_cidrs"),
            Denied::AddressNotAllowed { range: None, .. } => {
                "network.allow_cidrs (no entry matches)".into()
            }
            Denied::BlockedResolution { range, .. } => {
                format!("blocked range {range} (resolved), not in network.allow_cidrs")
            }
            Denied::BadHost(_) | Denied::Protocol(_) => "protocol limits".into(),
            Denied::Resolve { .. } | Denied::Connect { .. } => "none (upstream failure)".into(),
        }
    }
}

/// Parse a host as a client wrote it (URL host, CONNECT authority host, SOCKS domain) the way
/// a URL parser does: `2130706433`, `0177.0.0.1`, `0x7f000001`, `127.1` and `[::ffff:127.0.0.1]`
/// all become the address they spell, so no spelling slips past the address rules.
pub fn parse_host(raw: &str) -> Result<Host, Denied> {
    let bad = || Denied::BadHost(raw.chars().take(256).collect());
    match url::Host::parse(raw).map_err(|_| bad())? {
        url::Host::Ipv4(ip) => Ok(Host::Ip(IpAddr::V4(ip))),
        url::Host::Ipv6(ip) => Ok(Host::Ip(IpAddr::V6(ip).to_canonical())),
        url::Host::Domain(d) => {
            let name = normalize_name(&d);
            if valid_name(&name) {
                Ok(Host::Name(name))
            } else {
                Err(bad())
            }
        }
    }
}

/// A connection made under the policy.
#[derive(Debug)]
pub struct Connected {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// The rule that allowed it (`network.allow` entry or `allow_cidrs` range).
    pub rule: String,
}

/// The profile's egress rules, ready to decide.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    rules: Vec<HostRule>,
    cidrs: Vec<IpNet>,
    resolver: Resolver,
}

impl EgressPolicy {
    pub fn new(
        rules: Vec<HostRule>,
        cidrs: Vec<IpNet>,
        hosts: BTreeMap<String, Vec<IpAddr>>,
    ) -> EgressPolicy {
        EgressPolicy {
            rules,
            cidrs,
            resolver: Resolver::new(hosts),
        }
    }

    /// Check the host and port alone (no resolution): the rule that allows it.
    pub fn admit(&self, host: &Host, port: u16) -> Result<String, Denied> {
        match host {
            Host::Ip(ip) => self
                .cidrs
                .iter()
                .find(|net| net.contains(&ip.to_canonical()))
                .map(|net| format!("allow_cidrs {net}"))
                .ok_or(Denied::AddressNotAllowed {
                    ip: *ip,
                    range: blocked_range(*ip),
                }),
            Host::Name(name) => self
                .rules
                .iter()
                .find(|r| r.matches(name, port))
                .map(|r| format!("allow {r}"))
                .ok_or_else(|| Denied::NotAllowed {
                    host: name.clone(),
                    port,
                }),
        }
    }

    /// Resolve an allowed name and keep only the addresses it may reach: outside every blocked
    /// range, or inside `allow_cidrs`.
    pub async fn vetted_addresses(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, Denied> {
        let ips = self
            .resolver
            .lookup(name, port)
            .await
            .map_err(|reason| Denied::Resolve {
                host: name.to_string(),
                reason,
            })?;
        let mut first_blocked = None;
        let mut good = Vec::new();
        for ip in ips {
            let ip = ip.to_canonical();
            match blocked_range(ip) {
                Some(range) if !in_cidrs(&self.cidrs, ip) => {
                    first_blocked.get_or_insert((ip, range));
                }
                _ => good.push(ip),
            }
        }
        match (good.is_empty(), first_blocked) {
            (false, _) => Ok(good),
            (true, Some((ip, range))) => Err(Denied::BlockedResolution {
                host: name.to_string(),
                ip,
                range,
            }),
            (true, None) => Err(Denied::Resolve {
                host: name.to_string(),
                reason: "no addresses".into(),
            }),
        }
    }

    /// Admit, resolve, vet and connect: the one way out.
    pub async fn connect(&self, host: &Host, port: u16) -> Result<Connected, Denied> {
        let rule = self.admit(host, port)?;
        let ips = match host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => self.vetted_addresses(name, port).await?,
        };
        let mut last = String::from("no address");
        for ip in ips {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Connected {
                        stream,
                        peer: addr,
                        rule,
                    });
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: timed out"),
            }
        }
        Err(Denied::Connect {
            host: host.to_string(),
            reason: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(cidrs: &[&str]) -> EgressPolicy {
        let mut hosts = BTreeMap::new();
        hosts.insert("rebind.test".into(), vec!["127.0.0.1".parse().unwrap()]);
        hosts.insert(
            "meta.test".into(),
            vec!["::ffff:169.254.169.254".parse().unwrap()],
        );
        hosts.insert(
            "mixed.test".into(),
            vec!["10.0.0.1".parse().unwrap(), "1.1.1.1".parse().unwrap()],
        );
        EgressPolicy::new(
            vec![
                "rebind.test:*".parse().unwrap(),
                "meta.test".parse().unwrap(),
                "mixed.test".parse().unwrap(),
            ],
            cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            hosts,
        )
    }

    #[test]
    fn every_spelling_of_loopback_is_an_address() {
        let lo = Host::Ip("127.0.0.1".parse().unwrap());
        for spelling in [
            "127.0.0.1",
            "2130706433",
            "0177.0.0.1",
            "0x7f000001",
            "0x7f.0.0.1",
            "127.1",
            "127.0.1",
            "0177.1",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
        ] {
            assert_eq!(parse_host(spelling).unwrap(), lo, "{spelling}");
        }
        assert_eq!(
            parse_host("[::1]").unwrap(),
            Host::Ip("::1".parse().unwrap())
        );
        for bad in ["1.2.3.4.5", "0x1g.1", "a b", "evil.test@x", "", "x/y"] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_host("Allowed.TEST.").unwrap(),
            Host::Name("allowed.test".into())
        );
    }

    #[test]
    fn literal_addresses_need_allow_cidrs() {
        let p = policy(&[]);
        let lo = parse_host("2130706433").unwrap();
        let err = p.admit(&lo, 80).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        assert!(err.is_refusal());
        let p = policy(&["127.0.0.0/8"]);
        assert!(p.admit(&lo, 80).is_ok());
        assert!(
            p.admit(&parse_host("[::ffff:127.0.0.1]").unwrap(), 1)
                .is_ok()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn resolution_to_blocked_addresses_is_refused() {
        let p = policy(&[]);
        let err = p.vetted_addresses("rebind.test", 80).await.unwrap_err();
        assert!(matches!(err, Denied::BlockedResolution { .. }), "{err}");
        let err = p.vetted_addresses("meta.test", 80).await.unwrap_err();
        assert!(err.to_string().contains("metadata"), "{err}");
        // A blocked address is dropped, a public one kept.
        let ok = p.vetted_addresses("mixed.test", 80).await.unwrap();
        assert_eq!(ok, vec!["1.1.1.1".parse::<IpAddr>().unwrap()]);
        let p = policy(&["127.0.0.1/32"]);
        assert!(p.vetted_addresses("rebind.test", 80).await.is_ok());
    }

    #[test]
    fn names_off_the_list_are_refused_before_any_lookup() {
        let p = policy(&[]);
        let err = p.admit(&Host::Name("evil.test".into()), 443).unwrap_err();
        assert_eq!(err.rule(), "network.allow (no entry matches)");
        assert_eq!(
            err.allow_with("blocked.test:8080").unwrap(),
            "add \"blocked.test:8080\" to [network] allow"
        );
        assert_eq!(
            err.to_string(),
            "evil.test:443 is not allowed by network.allow"
        );
    }
}
