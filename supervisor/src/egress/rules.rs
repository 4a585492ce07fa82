//! `[network] allow` rules: which host names (and ports) the sandbox may reach through the
//! proxy. Parsed and validated when the profile loads; matched by the proxy and by `fetch`.
//!
//! Forms: `host` (ports 80 and 443), `host:PORT`, `host:*` (any port, only when written so),
//! and the same with a `*.` prefix for subdomains. A wildcard never matches its bare apex:
//! `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// Ports a rule written without one allows: plain http and https.
pub const DEFAULT_PORTS: [u16; 2] = [80, 443];

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this name (lower case, no trailing dot).
    Exact(String),
    /// Any name ending in `.<suffix>`; the suffix has at least two labels.
    Subdomains(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRule {
    /// Written without a port: 80 and 443.
    Default,
    /// `:*`
    Any,
    Port(u16),
}

/// One validated `allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    host: HostPattern,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("`{0}` has an empty host")]
    Empty(String),
    #[error("`{0}` has an invalid port (1-65535 or `*`)")]
    Port(String),
    #[error("`{0}` is an IP address; list addresses in `allow_cidrs`")]
    IpLiteral(String),
    #[error("`{0}` is not a host name (letters, digits, `-`, `_` and dots)")]
    Name(String),
    #[error("`{0}` is too broad: a wildcard must cover a domain of at least two labels")]
    TooBroad(String),
    #[error("`{0}` has a `*` that is not a leading `*.` label")]
    Wildcard(String),
}

/// Lower-case `name` and drop one trailing dot (`Example.COM.` and `example.com` are the same
/// host to DNS).
pub fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// A DNS name as the rules and the hosts map accept it: labels of ASCII letters, digits, `-`
/// and `_`, 1-63 bytes each, 253 in all, and not something a resolver would read as an IPv4
/// address in any spelling (`2130706433`, `0x7f.1`): the last label must not be numeric.
pub fn valid_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    // Bytes, not `str` slices: the label may hold non-ASCII characters (refused below), and
    // slicing a `str` at byte 2 would panic inside one.
    let last_numeric = name.rsplit('.').next().is_some_and(|l| {
        let l = l.as_bytes();
        l.iter().all(u8::is_ascii_digit)
            || (l.len() > 1
                && l[..2].eq_ignore_ascii_case(b"0x")
                && l[2..].iter().all(u8::is_ascii_hexdigit))
    });
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) && !last_numeric
}

impl FromStr for HostRule {
    type Err = RuleError;

    fn from_str(entry: &str) -> Result<HostRule, RuleError> {
        let (host, port) = match entry.rsplit_once(':') {
            Some((h, "*")) => (h, PortRule::Any),
            Some((h, p)) => match p.parse::<u16>() {
                Ok(n) if n > 0 && !p.starts_with('+') => (h, PortRule::Port(n)),
                _ => return Err(RuleError::Port(entry.into())),
            },
            None => (entry, PortRule::Default),
        };
        if host.is_empty() {
            return Err(RuleError::Empty(entry.into()));
        }
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return Err(RuleError::IpLiteral(entry.into()));
        }
        let host = normalize_name(host);
        let pattern = match host.strip_prefix("*.") {
            Some(suffix) => {
                if suffix.contains('*') {
                    return Err(RuleError::Wildcard(entry.into()));
                }
                if !suffix.contains('.') {
                    return Err(RuleError::TooBroad(entry.into()));
                }
                HostPattern::Subdomains(suffix.to_string())
            }
            None if host == "*" => return Err(RuleError::TooBroad(entry.into())),
            None if host.contains('*') => return Err(RuleError::Wildcard(entry.into())),
            None => HostPattern::Exact(host.clone()),
        };
        let name = match &pattern {
            HostPattern::Exact(n) | HostPattern::Subdomains(n) => n,
        };
        if !valid_name(name) {
            return Err(if name.split('.').all(|l| l.parse::<u32>().is_ok()) {
                RuleError::IpLiteral(entry.into())
            } else {
                RuleError::Name(entry.into())
            });
        }
        Ok(HostRule {
            host: pattern,
            port,
        })
    }
}

impl HostRule {
    /// Does this rule allow `name` (normalised) on `port`?
    pub fn matches(&self, name: &str, port: u16) -> bool {
        let host_ok = match &self.host {
            HostPattern::Exact(h) => h == name,
            HostPattern::Subdomains(suffix) => name
                .strip_suffix(suffix.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        };
        let port_ok = match self.port {
            PortRule::Default => DEFAULT_PORTS.contains(&port),
            PortRule::Any => true,
            PortRule::Port(p) => p == port,
        };
        host_ok && port_ok
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Exact(h) => f.write_str(h)?,
            HostPattern::Subdomains(s) => write!(f, "*.{s}")?,
        }
        match self.port {
            PortRule::Default => Ok(()),
            PortRule::Any => f.write_str(":*"),
            PortRule::Port(p) => write!(f, ":{p}"),
        }
    }
}

impl Serialize for HostRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> HostRule {
        s.parse().unwrap()
    }

    #[test]
    fn exact_names_and_default_ports() {
        let r = rule("Crates.IO.");
        assert_eq!(r.to_string(), "crates.io");
        assert!(r.matches("crates.io", 443));
        assert!(r.matches("crates.io", 80));
        assert!(!r.matches("crates.io", 22));
        assert!(!r.matches("static.crates.io", 443));
    }

    #[test]
    fn wildcards_never_match_the_apex() {
        let r = rule("*.pythonhosted.org:443");
        assert!(r.matches("files.pythonhosted.org", 443));
        assert!(r.matches("a.b.pythonhosted.org", 443));
        assert!(!r.matches("pythonhosted.org", 443));
        assert!(!r.matches("evilpythonhosted.org", 443));
        assert!(!r.matches("files.pythonhosted.org", 80));
    }

    #[test]
    fn any_port_only_when_written() {
        assert!(rule("github.com:*").matches("github.com", 22));
        assert!(!rule("github.com").matches("github.com", 22));
        assert!(rule("github.com:22").matches("github.com", 22));
    }

    #[test]
    fn bad_entries_are_refused() {
        for (entry, want) in [
            ("*.com", RuleError::TooBroad("*.com".into())),
            ("*", RuleError::TooBroad("*".into())),
            ("a.*.com", RuleError::Wildcard("a.*.com".into())),
            ("*.*.com", RuleError::Wildcard("*.*.com".into())),
            ("127.0.0.1", RuleError::IpLiteral("127.0.0.1".into())),
            ("2130706433", RuleError::IpLiteral("2130706433".into())),
            ("127.1:80", RuleError::IpLiteral("127.1:80".into())),
            ("[::1]:443", RuleError::IpLiteral("[::1]:443".into())),
            ("host:0", RuleError::Port("host:0".into())),
            ("host:70000", RuleError::Port("host:70000".into())),
            ("host:", RuleError::Port("host:".into())),
            (":443", RuleError::Empty(":443".into())),
            ("exa mple.com", RuleError::Name("exa mple.com".into())),
            ("a..b", RuleError::Name("a..b".into())),
            ("evil.0x7f", RuleError::Name("evil.0x7f".into())),
        ] {
            assert_eq!(entry.parse::<HostRule>().unwrap_err(), want, "{entry}");
        }
    }

    /// Found by the `proxy_request` and `profile_parser` fuzz targets
    /// (fuzz/regressions/): a last label whose second byte is inside a multi-byte character
    /// made `valid_name` slice a `str` off a character boundary and panic.
    #[test]
    fn non_ascii_labels_are_refused_without_panicking() {
        for name in [
            "\u{2}\u{4cd}(",
            "1.\u{2}\u{4cd}(",
            "\u{fffd}\u{ffff}g",
            "0\u{e9}",
            "a.x\u{e9}",
        ] {
            assert!(!valid_name(name), "{name:?}");
            assert_eq!(
                name.parse::<HostRule>().unwrap_err(),
                RuleError::Name(name.into()),
                "{name:?}"
            );
        }
        assert!(valid_name("a.0xg1"));
        assert!(!valid_name("a.0X7F"));
    }
}
