//! Resource limits applied with setrlimit in pid 1, inherited by the workload and its children.

use nix::sys::resource::{Resource, setrlimit};

use super::{ConfineError, Step};
use crate::plan::limits::{Rlimit, RlimitKind};

fn resource(kind: RlimitKind) -> Resource {
    match kind {
        RlimitKind::Nproc => Resource::RLIMIT_NPROC,
        RlimitKind::Data => Resource::RLIMIT_DATA,
        RlimitKind::Nofile => Resource::RLIMIT_NOFILE,
        RlimitKind::Fsize => Resource::RLIMIT_FSIZE,
        RlimitKind::Core => Resource::RLIMIT_CORE,
        RlimitKind::Cpu => Resource::RLIMIT_CPU,
    }
}

/// Set soft and hard limit to the plan's value, so the sandbox cannot raise them again.
pub fn apply(limits: &[Rlimit]) -> Result<(), ConfineError> {
    for limit in limits {
        setrlimit(resource(limit.kind), limit.value, limit.value).map_err(|e| {
            ConfineError::os(
                Step::Limits,
                e,
                format!("setrlimit({}, {})", limit.kind.name(), limit.value),
            )
        })?;
    }
    Ok(())
}

/// Move this (single-threaded) process into the run's cgroups by writing `0` to each `tasks`
/// file. Must run before the cgroup namespace is created (the cgroup we are in then becomes the
/// namespace's root) and before any fork (children are born in their parent's cgroup).
pub fn join_cgroups(tasks_files: &[std::path::PathBuf]) -> Result<(), ConfineError> {
    for file in tasks_files {
        std::fs::write(file, b"0").map_err(|e| {
            ConfineError::io(Step::JoinCgroup, &e, format!("write {}", file.display()))
        })?;
    }
    Ok(())
}
