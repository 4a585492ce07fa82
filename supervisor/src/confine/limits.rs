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
