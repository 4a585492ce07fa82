//! Landlock: the kernel's own check of every file access and TCP connection the workload makes.
//! Runs in the workload after the mounts (rules open paths in the final view) and before
//! seccomp. Strict plans use HardRequirement: anything the kernel cannot enforce is an error.

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus,
    Scope,
};

use super::{ConfineError, Step};
use crate::plan::{self, LandlockPlan};

fn abi_of(version: u8) -> ABI {
    match version {
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        6 => ABI::V6,
        7.. => ABI::V7,
        _ => ABI::Unsupported,
    }
}

/// The filesystem rights one grant gives, at `abi`.
pub fn rights(access: plan::Access, is_dir: bool, abi: ABI) -> landlock::BitFlags<AccessFs> {
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let rights = match access {
        plan::Access::List => AccessFs::ReadDir.into(),
        plan::Access::Read => read,
        plan::Access::Exec => read | AccessFs::Execute,
        plan::Access::Write => AccessFs::from_all(abi),
    };
    if is_dir {
        rights
    } else {
        rights & AccessFs::from_file(abi)
    }
}

fn err(e: impl std::fmt::Display, what: &str) -> ConfineError {
    ConfineError {
        step: Step::Landlock,
        errno: std::io::Error::last_os_error().raw_os_error(),
        detail: format!("{what}: {e}"),
    }
}

/// A ruleset built from the plan (every rule's path opened and added), not yet enforced on
/// anyone. pid 1 builds it while the supervisor is still busy, so the workload, forked after,
/// only has to call [`Prepared::restrict_self`].
#[derive(Debug)]
pub struct Prepared {
    created: RulesetCreated,
    strict: bool,
}

/// Restrict the calling process (and everything it executes) to the plan's rules.
pub fn restrict(plan: &LandlockPlan) -> Result<RestrictionStatus, ConfineError> {
    prepare(plan)?.restrict_self()
}

/// Build the plan's ruleset. Paths are opened in the caller's view of the filesystem: the
/// workload's, once the root is built.
pub fn prepare(plan: &LandlockPlan) -> Result<Prepared, ConfineError> {
    let abi = abi_of(plan.abi);
    if abi == ABI::Unsupported {
        return Err(ConfineError::other(
            Step::Landlock,
            "Landlock is not available in this kernel",
        ));
    }
    let level = if plan.strict {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| err(e, "handle filesystem access"))?;
    if plan.restrict_tcp && plan.abi >= 4 {
        // Handled: every TCP bind is denied, and every connect but to `connect_ports`.
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(|e| err(e, "handle TCP access"))?;
    }
    if plan.abi >= 6 {
        ruleset = ruleset
            .scope(Scope::from_all(abi))
            .map_err(|e| err(e, "scope signals and abstract sockets"))?;
    }
    let mut created = ruleset.create().map_err(|e| err(e, "create ruleset"))?;
    for rule in &plan.rules {
        let fd = match PathFd::new(&rule.path) {
            Ok(fd) => fd,
            // A path the mounts did not provide grants nothing; only strict plans insist.
            Err(e) if !plan.strict => {
                eprintln!(
                    "missy-sandbox: warning: Landlock rule skipped for {}: {e}",
                    rule.path.display()
                );
                continue;
            }
            Err(e) => return Err(err(e, &format!("open {}", rule.path.display()))),
        };
        let access = rights(rule.access, rule.is_dir, abi);
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| err(e, &format!("rule for {}", rule.path.display())))?;
    }
    if plan.restrict_tcp && plan.abi >= 4 {
        for &port in &plan.connect_ports {
            created = created
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(|e| err(e, &format!("TCP connect rule for port {port}")))?;
        }
    }
    if plan.log_new_exec && plan.abi >= 7 {
        // `--report`: the workload's domain is created before its execve, and Landlock logs
        // denials after an exec only with this flag. Best effort: logging is not enforcement.
        created = created
            .set_compatibility(CompatLevel::BestEffort)
            .log_new_exec(true)
            .map_err(|e| err(e, "log denials after execve"))?;
    }
    Ok(Prepared {
        created,
        strict: plan.strict,
    })
}

impl Prepared {
    /// Enforce the ruleset on the calling thread and whatever it executes. Borrowed, so a
    /// workload that shares pid 1's memory until its execve leaves pid 1's copy to pid 1.
    pub fn restrict_self(&self) -> Result<RestrictionStatus, ConfineError> {
        let status = self
            .created
            .try_clone()
            .map_err(|e| err(e, "duplicate the ruleset"))?
            .restrict_self()
            .map_err(|e| err(e, "restrict_self"))?;
        check(self.strict, status)
    }
}

/// A strict plan must be fully enforced; a best-effort one says loudly that it is not.
fn check(strict: bool, status: RestrictionStatus) -> Result<RestrictionStatus, ConfineError> {
    if strict && status.ruleset != RulesetStatus::FullyEnforced {
        return Err(ConfineError::other(
            Step::Landlock,
            format!("ruleset only {:?}", status.ruleset),
        ));
    }
    if status.ruleset != RulesetStatus::FullyEnforced {
        eprintln!(
            "missy-sandbox: WARNING: Landlock is only {:?} (best-effort profile)",
            status.ruleset
        );
    }
    Ok(status)
}
