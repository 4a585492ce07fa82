//! How a run's end is told: the message for each way a sandbox can end, the audit `Ending`,
//! and a Plan that cannot be compiled (its status and its policy-refusal record). Shared by
//! `exec` and `serve`'s per-run supervisor, which run the same path (`exec::run_spec`).

use std::time::Instant;

use crate::audit::{self, Ending, RunAudit};
use crate::commands::{EXIT_BAD_INPUT, report};
use crate::init::EXIT_SETUP_FAILED;
use crate::plan::PlanError;
use crate::supervise::Outcome;

/// What to say about a run that ended as `outcome` (nothing for a normal end; a setup failure
/// is reported with its own step and errno). `memory_limit`: the profile's, for the OOM message.
pub fn message(outcome: &Outcome, memory_limit: Option<impl std::fmt::Display>) -> Option<String> {
    match outcome {
        Outcome::TimedOut(limit) => Some(format!(
            "wall-time limit of {} reached; the sandbox was killed",
            crate::policy::units::Duration(limit.as_millis() as u64)
        )),
        Outcome::OutOfMemory(_) => Some(format!(
            "the memory limit{} was reached: the kernel ended a process of the sandbox",
            memory_limit.map(|b| format!(" of {b}")).unwrap_or_default()
        )),
        Outcome::SetupFailed { .. } | Outcome::Finished(_) => None,
    }
}

pub fn ending(exit_status: i32, started: Instant, message: Option<String>) -> Ending {
    Ending {
        exit_status,
        duration: started.elapsed(),
        resources: audit::usage::children(),
        report: None,
        message,
    }
}

/// Report a failure to compile the Plan: 125 when the kernel cannot enforce the profile, 2 for
/// bad input. Audited as a policy refusal.
pub fn report_plan_error(e: &PlanError, audit: Option<&RunAudit>) -> i32 {
    report(e);
    let rule = match e {
        PlanError::Unenforceable { unmet, .. } => unmet
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        PlanError::RunTmp(_) | PlanError::SocketFilter(_) | PlanError::ProxyListener(_) => {
            "launch".to_string()
        }
        PlanError::Workspace(_) => "workspace".to_string(),
        PlanError::Arch => "architecture".to_string(),
        PlanError::MissingGrant { at, .. } => at.clone(),
        PlanError::ProtectedSymlink(_) => "filesystem.protect".to_string(),
    };
    if let Some(audit) = audit
        && let Err(refused) = audit.policy_refusal(&rule, &e.to_string())
    {
        report(&refused.source);
    }
    match e {
        PlanError::Unenforceable { .. }
        | PlanError::RunTmp(_)
        | PlanError::SocketFilter(_)
        | PlanError::ProxyListener(_) => EXIT_SETUP_FAILED,
        _ => EXIT_BAD_INPUT,
    }
}
