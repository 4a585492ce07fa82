//! Name resolution for the egress path, done by the supervisor (the sandbox has no resolver
//! of its own that could be trusted). The profile's `hosts` map answers first and a name in it
//! is never sent to DNS; other names go to the system resolver. Every answer is vetted by the
//! caller ([`super::policy`]) and the connection goes to a vetted address, with no second lookup.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Set to `off` (tests only) to refuse every name that is not in the profile's `hosts` map
/// instead of asking the system resolver, so a test can never send a DNS query.
pub const DNS_SWITCH: &str = "MISSY_EGRESS_DNS";

#[derive(Debug, Clone)]
pub struct Resolver {
    hosts: BTreeMap<String, Vec<IpAddr>>,
    system: bool,
}

impl Resolver {
    pub fn new(hosts: BTreeMap<String, Vec<IpAddr>>) -> Resolver {
        let system = std::env::var(DNS_SWITCH).map_or(true, |v| v != "off");
        Resolver { hosts, system }
    }

    /// Addresses for `name` (already normalised: lower case, no trailing dot).
    pub async fn lookup(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        if let Some(ips) = self.hosts.get(name) {
            return Ok(ips.clone());
        }
        if !self.system {
            return Err(format!(
                "not in the profile's hosts map and {DNS_SWITCH}=off"
            ));
        }
        let addrs = tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| e.to_string())?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for a in addrs {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
        if ips.is_empty() {
            return Err("no addresses".into());
        }
        Ok(ips)
    }
}
