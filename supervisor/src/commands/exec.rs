//! `missy-sandbox exec`: load the profile, compile the plan, launch, wait, report. Every run is
//! audited: `exec-start` before the sandbox gets its Plan (a start record that cannot be written
//! refuses the run by default), then `exec-end` or `setup-failure`; a run refused earlier leaves
//! `profile-load` or `policy-refusal`.

use std::time::Instant;

use crate::audit::{self, AuditConfig, Ending, RunAudit, RunInfo};
use crate::cli::ExecArgs;
use crate::commands::{EXIT_BAD_INPUT, context, report};
use crate::init::EXIT_SETUP_FAILED;
use crate::kernel::KernelFeatures;
use crate::plan::{self, Invocation, PlanError};
use crate::secrets::{env as secret_env, relay};
use crate::supervise::{self, Outcome};
use crate::{policy, spawn};

pub fn run(args: ExecArgs, audit_flag: Option<&str>) -> i32 {
    let started = Instant::now();
    let run_id = audit::new_run_id();
    let span = tracing::info_span!("run", run = %run_id, profile = %args.profile);
    let _entered = span.enter();
    let ctx = match context(args.workspace.as_deref()) {
        Ok(ctx) => ctx,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let info = RunInfo {
        run: run_id,
        profile: args.profile.clone(),
        profile_sha256: None,
        argv: args.command.clone(),
        cwd: ctx.cwd.to_string_lossy().into_owned(),
    };
    let mut policy = match policy::load(&args.profile, &ctx) {
        Ok(p) => p,
        Err(e) => {
            report(&e);
            let config = AuditConfig::resolve(audit_flag, &Default::default(), &ctx.home);
            if !args.dry_run
                && let Err(refused) =
                    RunAudit::new(&config, info).profile_load_failed(&e.to_string())
            {
                report(&refused.source);
            }
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(timeout) = args.timeout {
        policy.limits.wall_time = Some(timeout);
    }
    let config = AuditConfig::resolve(audit_flag, &policy.audit, &ctx.home);
    let audit = RunAudit::new(
        &config,
        RunInfo {
            profile: policy.name.clone(),
            // Hashing serialises the whole policy: only worth it when a record is written.
            profile_sha256: config.log.is_some().then(|| audit::profile_hash(&policy)),
            ..info
        },
    );
    tracing::debug!(log = ?config.log.as_ref().map(|l| &l.path), "audit log");
    // Vault values are resolved before anything starts: a missing one is bad input.
    let secrets = if args.dry_run {
        // A dry run shows the plan without opening the vault.
        policy
            .env_secrets
            .keys()
            .map(|k| (k.clone(), zeroize::Zeroizing::new("***".to_string())))
            .collect()
    } else {
        match secret_env::resolve(&policy, args.vault_dir.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                report(&e);
                return EXIT_BAD_INPUT;
            }
        }
    };
    // Vault values need a detector of this run's own; the patterns alone are built on first
    // use (the first output, or the first audit record).
    if !secrets.is_empty() {
        match secret_env::detector(&secrets) {
            Ok(d) => crate::secrets::guard::install(d),
            Err(e) => {
                report(&e);
                return EXIT_BAD_INPUT;
            }
        }
    }
    let mut env_overrides = args.env;
    env_overrides.extend(secrets.iter().map(|(k, v)| (k.clone(), v.to_string())));
    let invocation = Invocation {
        argv: args.command,
        workspace: ctx.workspace.clone(),
        cwd: ctx.cwd.clone(),
        env_overrides,
        host_env: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
    };
    if args.dry_run {
        return match plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
            Ok(compiled) => match serde_json::to_string_pretty(&compiled.plan) {
                Ok(json) => {
                    println!("{}", crate::secrets::guard::censor(&json));
                    0
                }
                Err(e) => {
                    report(&e);
                    EXIT_SETUP_FAILED
                }
            },
            Err(e) => report_plan_error(&e, None),
        };
    }
    // The censored output channels exist before pid 1, which takes them as its fds 1 and 2.
    let mut stdio = match relay::Stdio::new() {
        Ok(s) => s,
        Err(e) => {
            report(&format!("cannot create the output channels: {e}"));
            return EXIT_SETUP_FAILED;
        }
    };
    let mut start = plan::pid1_start(&policy);
    start.stdio = stdio.child_fds();
    // pid 1 starts now and creates its namespaces while the Plan is compiled.
    let cloned = spawn::start(start);
    stdio.close_child_ends();
    let pending = match cloned {
        Ok(p) => p,
        Err(e) => {
            // A kernel that cannot give us the namespaces usually lacks more: the compiler's
            // list of every control it cannot enforce says more than the clone's errno.
            if let Err(plan_error) = plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
                return report_plan_error(&plan_error, Some(&audit));
            }
            report(&e);
            let _ = audit.policy_refusal("launch", &e.to_string());
            return EXIT_SETUP_FAILED;
        }
    };
    let compiled = match plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
        Ok(c) => c,
        Err(e) => {
            pending.abort();
            return report_plan_error(&e, Some(&audit));
        }
    };
    let mut degraded = Vec::new();
    for control in compiled.controls.iter().filter(|c| !c.status.is_enforced()) {
        eprintln!(
            "missy-sandbox: WARNING (best-effort profile): {}: {}",
            control.name, control.status
        );
        degraded.push(format!("{}: {}", control.name, control.status));
    }
    if !compiled.withheld_env.is_empty() {
        tracing::info!(names = ?compiled.withheld_env, "secret-looking variables withheld from the sandbox");
    }
    let require = serde_json::to_string(&policy.require).unwrap_or_default();
    let enforcement = format!("profile {} (kernel.require = {require})", policy.name);
    let warnings = (!degraded.is_empty()).then(|| format!("not enforced: {}", degraded.join("; ")));
    let wall_time = compiled.limits.wall_time;
    // Built only for `mode = "proxy"`: other runs pay nothing for egress.
    let egress = (policy.network == policy::NetworkMode::Proxy)
        .then(|| crate::egress::Egress::for_run(&policy, audit.clone()));
    let memory_limit = policy.limits.memory;
    // The start record is written while pid 1 builds the root, before it may fork the
    // workload: a run that cannot be recorded never runs.
    let record_start = || {
        audit
            .exec_start(&enforcement, warnings)
            .map_err(|refused| refused.to_string())
    };
    let launched = match pending.commit(compiled, 0, record_start) {
        Ok(l) => l,
        Err(e @ spawn::LaunchError::Refused(_)) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
        Err(e) => {
            report(&e);
            let end = ending(EXIT_SETUP_FAILED, started, None);
            let _ = audit.setup_failure("launch", &e.to_string(), &end);
            return EXIT_SETUP_FAILED;
        }
    };
    // The runtime starts only now: pid 1 was cloned from a single-threaded process.
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    let relays = stdio.start(crate::secrets::guard::detector);
    let waited = runtime.block_on(supervise::wait(launched, wall_time, egress));
    // Every byte the sandbox wrote is relayed before any report and before exec returns.
    let redactions = relays.finish();
    if redactions > 0 {
        tracing::info!(redactions, "secrets censored in the sandbox's output");
    }
    match waited {
        Ok(outcome) => {
            let message = match &outcome {
                Outcome::SetupFailed { error, .. } => {
                    report(error);
                    None
                }
                Outcome::TimedOut(limit) => Some(format!(
                    "wall-time limit of {} reached; the sandbox was killed",
                    policy::units::Duration(limit.as_millis() as u64)
                )),
                Outcome::OutOfMemory(_) => Some(format!(
                    "the memory limit{} was reached: the kernel ended a process of the sandbox",
                    memory_limit.map(|b| format!(" of {b}")).unwrap_or_default()
                )),
                Outcome::Finished(_) => None,
            };
            if let Some(m) = &message {
                report(m);
            }
            let status = outcome.exit_status();
            let end = ending(status, started, message);
            let written = match &outcome {
                Outcome::SetupFailed { error, .. } => {
                    audit.setup_failure(error.step.name(), &error.to_string(), &end)
                }
                _ => audit.exec_end(&end),
            };
            if let Err(e) = written {
                // The run has happened; say that its end is not on record.
                report(&e.source);
            }
            status
        }
        Err(e) => {
            report(&format!("waiting for the sandbox: {e}"));
            EXIT_SETUP_FAILED
        }
    }
}

fn ending(exit_status: i32, started: Instant, message: Option<String>) -> Ending {
    Ending {
        exit_status,
        duration: started.elapsed(),
        resources: audit::usage::children(),
        denials: None,
        message,
    }
}

/// Report a failure to compile the Plan: 125 when the kernel cannot enforce the profile, 2 for
/// bad input. Audited as a policy refusal.
fn report_plan_error(e: &PlanError, audit: Option<&RunAudit>) -> i32 {
    report(e);
    let rule = match e {
        PlanError::Unenforceable { unmet, .. } => unmet
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        PlanError::Workspace(_) => "workspace".to_string(),
        PlanError::Arch => "architecture".to_string(),
    };
    if let Some(audit) = audit
        && let Err(refused) = audit.policy_refusal(&rule, &e.to_string())
    {
        report(&refused.source);
    }
    match e {
        PlanError::Unenforceable { .. } => EXIT_SETUP_FAILED,
        _ => EXIT_BAD_INPUT,
    }
}
