//! `missy-sandbox exec`: load the profile, compile the plan, launch, wait, report.

use crate::cli::ExecArgs;
use crate::commands::{EXIT_BAD_INPUT, context, report};
use crate::init::EXIT_SETUP_FAILED;
use crate::kernel::KernelFeatures;
use crate::plan::{self, Invocation, PlanError};
use crate::secrets::{env as secret_env, relay};
use crate::supervise::{self, Outcome};
use crate::{policy, spawn};

pub fn run(args: ExecArgs) -> i32 {
    let ctx = match context(args.workspace.as_deref()) {
        Ok(ctx) => ctx,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let mut policy = match policy::load(&args.profile, &ctx) {
        Ok(p) => p,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(timeout) = args.timeout {
        policy.limits.wall_time = Some(timeout);
    }
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
    let detector = match secret_env::detector(&secrets) {
        Ok(d) => d,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    crate::secrets::guard::install(std::sync::Arc::clone(&detector));
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
            Err(e) => report_plan_error(&e),
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
    let started = spawn::start(start);
    stdio.close_child_ends();
    let pending = match started {
        Ok(p) => p,
        Err(e) => {
            // A kernel that cannot give us the namespaces usually lacks more: the compiler's
            // list of every control it cannot enforce says more than the clone's errno.
            if let Err(plan_error) = plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
                return report_plan_error(&plan_error);
            }
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    let compiled = match plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
        Ok(c) => c,
        Err(e) => {
            pending.abort();
            return report_plan_error(&e);
        }
    };
    for control in compiled.controls.iter().filter(|c| !c.status.is_enforced()) {
        eprintln!(
            "missy-sandbox: WARNING (best-effort profile): {}: {}",
            control.name, control.status
        );
    }
    if !compiled.withheld_env.is_empty() {
        tracing::info!(names = ?compiled.withheld_env, "secret-looking variables withheld from the sandbox");
    }
    let wall_time = compiled.limits.wall_time;
    let memory_limit = policy.limits.memory;
    let launched = match pending.commit(compiled, 0) {
        Ok(l) => l,
        Err(e) => {
            report(&e);
            return EXIT_SETUP_FAILED;
        }
    };
    // The runtime starts only now: pid 1 was cloned from a single-threaded process.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(&format!("cannot start the async runtime: {e}"));
            return EXIT_SETUP_FAILED;
        }
    };
    let relays = stdio.start(&detector);
    let waited = runtime.block_on(supervise::wait(launched, wall_time));
    // Every byte the sandbox wrote is relayed before any report and before exec returns.
    let redactions = relays.finish();
    if redactions > 0 {
        tracing::info!(redactions, "secrets censored in the sandbox's output");
    }
    match waited {
        Ok(outcome) => {
            match &outcome {
                Outcome::SetupFailed { error, .. } => report(error),
                Outcome::TimedOut(limit) => report(&format!(
                    "wall-time limit of {} reached; the sandbox was killed",
                    policy::units::Duration(limit.as_millis() as u64)
                )),
                Outcome::OutOfMemory(_) => report(&format!(
                    "the memory limit{} was reached: the kernel ended a process of the sandbox",
                    memory_limit.map(|b| format!(" of {b}")).unwrap_or_default()
                )),
                Outcome::Finished(_) => {}
            }
            outcome.exit_status()
        }
        Err(e) => {
            report(&format!("waiting for the sandbox: {e}"));
            EXIT_SETUP_FAILED
        }
    }
}

/// Report a failure to compile the Plan: 125 when the kernel cannot enforce the profile, 2 for
/// bad input.
fn report_plan_error(e: &PlanError) -> i32 {
    report(e);
    match e {
        PlanError::Unenforceable { .. } => EXIT_SETUP_FAILED,
        _ => EXIT_BAD_INPUT,
    }
}
