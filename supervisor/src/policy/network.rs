//! `[network]`: the mode and the egress keys (`allow`, `allow_cidrs`, `hosts`,
//! `fetch_max_size`), validated into their typed forms when the profile loads.

use ipnet::IpNet;

use super::error::PolicyError;
use super::model::{Policy, invalid, push_unique};
use super::raw::RawNetwork;
use super::resolve::SourceFile;
use crate::egress::rules::{HostRule, RuleError, normalize_name, valid_name};

/// Egress keys only mean something with the proxy: refuse them at their first entry otherwise,
/// rather than let a profile look as if it allowed something.
pub(super) fn refuse_egress_keys(files: &[SourceFile]) -> Result<(), PolicyError> {
    for file in files {
        let Some(net) = &file.raw.network else {
            continue;
        };
        let first = [
            (
                "allow",
                net.allow.as_ref().and_then(|l| l.first()).map(|e| e.span()),
            ),
            (
                "allow_cidrs",
                net.allow_cidrs
                    .as_ref()
                    .and_then(|l| l.first())
                    .map(|e| e.span()),
            ),
            (
                "hosts",
                net.hosts
                    .as_ref()
                    .and_then(|m| m.keys().next())
                    .map(|k| k.span()),
            ),
            (
                "fetch_max_size",
                net.fetch_max_size.as_ref().map(|v| v.span()),
            ),
        ];
        if let Some((key, Some(span))) = first.into_iter().find(|(_, s)| s.is_some()) {
            return Err(invalid(
                file,
                "network",
                key,
                span,
                format!("`{key}` needs mode = \"proxy\""),
                "mode = \"proxy\" in this profile or one it extends, or no egress keys",
            ));
        }
    }
    Ok(())
}

const ALLOW_EXPECTED: &str = "a host name, `*.domain` (subdomains only, at least two labels), each optionally with `:PORT` or `:*` (e.g. \"crates.io\", \"*.pythonhosted.org:443\", \"github.com:*\")";

const CIDR_EXPECTED: &str =
    "an IP address or range such as \"10.1.2.3\", \"10.0.0.0/8\" or \"fd00::/8\" (not /0)";

const HOSTS_EXPECTED: &str =
    "a host name mapped to an IP address, e.g. { \"registry.internal\" = \"10.1.2.3\" }";

/// `[network]`: mode and the egress keys, validated into their typed forms.
pub(super) fn apply(
    policy: &mut Policy,
    file: &SourceFile,
    net: &RawNetwork,
) -> Result<(), PolicyError> {
    if let Some(mode) = &net.mode {
        policy.network = *mode.get_ref();
    }
    for entry in net.allow.iter().flatten() {
        let rule: HostRule = entry.get_ref().parse().map_err(|e: RuleError| {
            invalid(
                file,
                "network",
                "allow",
                entry.span(),
                e.to_string(),
                ALLOW_EXPECTED,
            )
        })?;
        push_unique(&mut policy.allow, [rule]);
    }
    for entry in net.allow_cidrs.iter().flatten() {
        let text = entry.get_ref();
        let fail = |m: String| {
            invalid(
                file,
                "network",
                "allow_cidrs",
                entry.span(),
                m,
                CIDR_EXPECTED,
            )
        };
        let net = match text.parse::<IpNet>() {
            Ok(n) => n.trunc(),
            Err(_) => text
                .parse::<std::net::IpAddr>()
                .map(IpNet::from)
                .map_err(|_| fail(format!("`{text}` is not an IP address or range")))?,
        };
        if net.prefix_len() == 0 {
            return Err(fail(format!(
                "`{text}` would allow every address; use mode = \"host\" for that"
            )));
        }
        push_unique(&mut policy.allow_cidrs, [net]);
    }
    for (name, addr) in net.hosts.iter().flatten() {
        let normalized = normalize_name(name.get_ref());
        if !valid_name(&normalized) {
            return Err(invalid(
                file,
                "network",
                "hosts",
                name.span(),
                format!("`{}` is not a host name", name.get_ref()),
                HOSTS_EXPECTED,
            ));
        }
        let ip: std::net::IpAddr = addr.get_ref().parse().map_err(|_| {
            invalid(
                file,
                "network",
                "hosts",
                addr.span(),
                format!("`{}` is not an IP address", addr.get_ref()),
                HOSTS_EXPECTED,
            )
        })?;
        policy.hosts.insert(normalized, vec![ip]);
    }
    if let Some(size) = &net.fetch_max_size {
        if size.get_ref().0 == 0 {
            return Err(invalid(
                file,
                "network",
                "fetch_max_size",
                size.span(),
                "0 would refuse every response".into(),
                "a positive size such as \"50MiB\"",
            ));
        }
        policy.fetch_max_size = Some(*size.get_ref());
    }
    Ok(())
}
