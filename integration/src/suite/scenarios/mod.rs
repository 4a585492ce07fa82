//! The catalogue: one scenario per escape attempt, each naming the threat (docs/threat-model.md)
//! and the controls that stop it, and preparing its attempt for one cell: the probe's
//! arguments, the host fixtures it targets and the evidence the host checks afterwards.
//!
//! A scenario may prepare the control and the sandboxed run differently only where the control
//! would otherwise harm the host (a mount or netlink change goes into a private namespace) or
//! must target the host equivalent of a sandbox-only object (pid 1).

use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use super::host::{Evidence, HostProcess, disk_available, mem_available};
use super::{Area, Attempt, Fixture, Scenario, Side, Skip};

const MIB: u64 = 1 << 20;

fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A fixture that cannot be built fails the cell: a check that did not run is not a pass.
fn err(what: &str, e: impl std::fmt::Display) -> Skip {
    Skip::Broken(format!("host fixture failed: {what}: {e}"))
}

fn secret(fx: &Fixture) -> Result<String, Skip> {
    fx.dir
        .file(fx.dir.outside.join("secret.txt"), "top secret\n")
        .map(|p| s(&p))
        .map_err(|e| err("secret file", e))
}

fn sleeper(fx: &Fixture, env: &[(&str, &str)]) -> Result<HostProcess, Skip> {
    HostProcess::sleeper(fx.user, env).map_err(|e| err("host sleeper", e))
}

/// A limit the sandboxed cell tests, or the reason there is none to test.
fn limit(side: Side, value: Option<u64>, key: &str) -> Result<u64, Skip> {
    value.ok_or_else(|| {
        Skip::Reason(match side {
            Side::Control { .. } => format!("no profile under test sets limits.{key}"),
            Side::Sandbox { profile } => format!(
                "{} sets no limits.{key}: nothing to enforce (the profiles extending it set one)",
                profile.name
            ),
        })
    })
}

/// The sandboxed cell tests a protected path only under a profile that protects `entry`; a
/// profile that leaves the workspace writable without it has nothing to enforce.
fn protected(side: Side, entry: &str) -> Result<(), Skip> {
    match side {
        Side::Sandbox { profile } if !profile.protect.iter().any(|p| p == entry) => {
            Err(Skip::Reason(format!(
                "{} does not protect {entry} (dev does): nothing to enforce",
                profile.name
            )))
        }
        _ => Ok(()),
    }
}

macro_rules! plain {
    ($($arg:expr),*) => {
        |_: &Fixture, _: Side| Ok(Attempt::new(&[$($arg),*] as &[&str]))
    };
}

mod filesystem;
mod network;
pub mod nons;
mod processes;
mod resources;
mod secrets;

/// The whole catalogue, by threat area in the order of docs/threat-model.md.
pub fn catalogue() -> impl Iterator<Item = &'static Scenario> {
    [
        filesystem::SCENARIOS,
        processes::SCENARIOS,
        network::SCENARIOS,
        secrets::SCENARIOS,
        resources::SCENARIOS,
    ]
    .into_iter()
    .flatten()
}
