//! Per-control enforcement status: how this kernel enforces each control the profile asks for,
//! or why it cannot. Strict profiles refuse to run when any control is degraded.

use std::fmt;

use serde::Serialize;

use super::limits::LimitPlan;
use crate::kernel::KernelFeatures;
use crate::policy::{NetworkMode, Policy};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Enforced by the named mechanism.
    Enforced(String),
    /// Not requested by the profile (e.g. `mode = "host"`).
    Off(String),
    /// Requested but not enforceable here: the reason and remedy.
    Degraded(String),
}

impl Status {
    pub fn is_enforced(&self) -> bool {
        !matches!(self, Status::Degraded(_))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Enforced(how) => write!(f, "enforced by {how}"),
            Status::Off(why) => write!(f, "off ({why})"),
            Status::Degraded(why) => write!(f, "NOT ENFORCED: {why}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Control {
    pub name: String,
    pub status: Status,
}

fn control(name: &str, status: Status) -> Control {
    Control {
        name: name.to_string(),
        status,
    }
}

pub fn assess(policy: &Policy, k: &KernelFeatures, limits: &LimitPlan) -> Vec<Control> {
    let mut out = Vec::new();
    let userns = k.user_namespaces.clone();
    let ns_status = |what: &str| match &userns {
        Ok(()) => Status::Enforced(format!("{what} namespace")),
        Err(why) => Status::Degraded(why.clone()),
    };
    out.push(control(
        "namespaces (user, mount, pid, ipc, uts, cgroup)",
        ns_status("new user, mount, pid, ipc, uts and cgroup"),
    ));
    out.push(control(
        "network isolation",
        match policy.network {
            NetworkMode::Host => Status::Off("profile sets network.mode = \"host\"".into()),
            _ => match (&userns, k.landlock_abi >= 4) {
                (Ok(()), true) if policy.network == NetworkMode::Proxy => Status::Enforced(
                    "network namespace (loopback only) + Landlock TCP rules (connect only to the egress proxy)".into(),
                ),
                (Ok(()), true) => Status::Enforced(
                    "network namespace (loopback only) + Landlock TCP rules".into(),
                ),
                (Ok(()), false) => Status::Enforced("network namespace (loopback only)".into()),
                (Err(_), true) => {
                    Status::Degraded("no network namespace; Landlock blocks TCP but not UDP".into())
                }
                (Err(why), false) => Status::Degraded(why.clone()),
            },
        },
    ));
    out.push(control(
        "filesystem access rules",
        match k.landlock_abi {
            0 => Status::Degraded(
                "Landlock is unavailable; remedy: boot with lsm=...,landlock (CONFIG_SECURITY_LANDLOCK=y)".into(),
            ),
            1 | 2 => Status::Degraded(format!(
                "Landlock ABI {} cannot control truncation (needs ABI 3, Linux 6.2)",
                k.landlock_abi
            )),
            abi => Status::Enforced(format!(
                "Landlock ABI {} + mount namespace (only granted paths exist)",
                abi.min(crate::kernel::LANDLOCK_ABI_KNOWN)
            )),
        },
    ));
    out.push(control(
        "signal and abstract-socket scoping",
        match (k.landlock_abi >= 6, &userns) {
            (true, _) => {
                Status::Enforced("Landlock scopes (ABI 6) + pid and network namespaces".into())
            }
            (false, Ok(())) => Status::Enforced("pid and network namespaces".into()),
            (false, Err(why)) => Status::Degraded(format!("Landlock ABI < 6 and {why}")),
        },
    ));
    out.push(control(
        "system call filter",
        if k.seccomp_filter {
            Status::Enforced("seccomp deny-list (EPERM)".into())
        } else {
            Status::Degraded("seccomp filters are unavailable (CONFIG_SECCOMP_FILTER)".into())
        },
    ));
    out.push(control(
        "capabilities",
        Status::Enforced("all five sets cleared + no_new_privs".into()),
    ));
    for (name, result) in &limits.mechanisms {
        let status = match result {
            Ok(how) => Status::Enforced(how.clone()),
            Err(why) => Status::Degraded(why.clone()),
        };
        out.push(control(&format!("limit: {name}"), status));
    }
    out
}
