//! The kernel mechanisms that confine a sandbox, one module per mechanism.
//!
//! Runs in the sandbox's pid 1 and workload only (single-threaded copies of the supervisor). Each module applies its part of the
//! [`Plan`](crate::plan::Plan) and reports failure as a [`ConfineError`] naming the step and errno,
//! which travels back to the supervisor over the control channel.

use std::fmt;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// Every step of the confinement sequence, in the order `init.rs` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    ReadPlan,
    ParentDeathSignal,
    Fds,
    IdMaps,
    Unshare,
    NotDumpable,
    ProcessGroup,
    Signals,
    Mounts,
    Chdir,
    PivotRoot,
    Hostname,
    Loopback,
    ProxyListener,
    Limits,
    Cgroup,
    ForkWorkload,
    Session,
    Capabilities,
    NoNewPrivs,
    Landlock,
    Seccomp,
    Exec,
}

impl Step {
    /// The name printed in error messages and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Step::ReadPlan => "read-plan",
            Step::ParentDeathSignal => "parent-death-signal",
            Step::ProcessGroup => "process-group",
            Step::NotDumpable => "not-dumpable",
            Step::Unshare => "unshare",
            Step::IdMaps => "id-maps",
            Step::Signals => "signals",
            Step::Mounts => "mounts",
            Step::Chdir => "chdir",
            Step::PivotRoot => "pivot-root",
            Step::Hostname => "hostname",
            Step::Loopback => "loopback",
            Step::ProxyListener => "proxy-listener",
            Step::Limits => "limits",
            Step::Cgroup => "cgroup",
            Step::Fds => "fds",
            Step::ForkWorkload => "fork-workload",
            Step::Session => "session",
            Step::Capabilities => "capabilities",
            Step::NoNewPrivs => "no-new-privs",
            Step::Landlock => "landlock",
            Step::Seccomp => "seccomp",
            Step::Exec => "exec",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed confinement step: which step, the errno if the kernel gave one, and what it acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ConfineError {
    pub step: Step,
    /// Raw errno value; `None` when the failure did not come from a system call.
    pub errno: Option<i32>,
    pub detail: String,
}

impl ConfineError {
    /// A failure reported by the kernel.
    pub fn os(step: Step, errno: Errno, detail: impl Into<String>) -> Self {
        ConfineError {
            step,
            errno: Some(errno as i32),
            detail: detail.into(),
        }
    }

    /// A failure from an `io::Error`, keeping its errno when it has one.
    pub fn io(step: Step, err: &std::io::Error, detail: impl Into<String>) -> Self {
        ConfineError {
            step,
            errno: err.raw_os_error(),
            detail: detail.into(),
        }
    }

    /// A failure that did not come from a system call.
    pub fn other(step: Step, detail: impl Into<String>) -> Self {
        ConfineError {
            step,
            errno: None,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ConfineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "setup failed at {}", self.step)?;
        if let Some(errno) = self.errno {
            let e = Errno::from_raw(errno);
            write!(f, ": {e:?} ({})", e.desc())?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

pub mod exec;
pub mod fds;
pub mod landlock;
pub mod limits;
pub mod mounts;
pub mod namespaces;
pub mod network;
pub mod privileges;
pub mod seccomp;
pub mod watch;
