//! `missy-sandbox exec`: load the profile, compile the plan, launch, wait, report. Every run is
//! audited: `exec-start` before the sandbox gets its Plan (a start record that cannot be written
//! refuses the run by default), then `exec-end` or `setup-failure`; a run refused earlier leaves
//! `profile-load` or `policy-refusal`.
//!
//! [`run_spec`] is the one launch path: the CLI calls it with its own stdio, and `serve`'s
//! per-run supervisor (server/zygote.rs) with the run's pipes on its fds 0-2, a client
//! environment the profile filters, and a cancel socket.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::audit::{self, AuditConfig, Ending, RunAudit, RunInfo};
use crate::changes::{OnExit, WorkspaceMode};
use crate::cli::ExecArgs;
use crate::commands::{EXIT_BAD_INPUT, client, context, launch, report, run_end};
use crate::init::EXIT_SETUP_FAILED;
use crate::kernel::KernelFeatures;
use crate::plan::{self, Invocation};
use crate::policy::Context;
use crate::policy::units::Duration as Millis;
use crate::secrets::env as secret_env;
use crate::server::broker::{self, Broker};
use crate::supervise::{self, Outcome};
use crate::{policy, report, spawn};

/// How a caller's wall-clock limit combines with the profile's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// `exec --timeout`: replaces the profile's limit (the operator may lengthen it).
    Override(Millis),
    /// A daemon client: may only shorten the profile's limit.
    AtMost(Millis),
}

/// One run, as the CLI or the daemon asks for it.
#[derive(Debug, Default)]
pub struct RunSpec {
    pub profile: String,
    pub workspace: Option<PathBuf>,
    /// `{cwd}` and the command's working directory, instead of this process's own (profiles are
    /// still found relative to this process's directory).
    pub cwd: Option<PathBuf>,
    pub timeout: Option<TimeLimit>,
    /// Set inside the sandbox whatever the profile says (`exec --env`, the operator's choice).
    pub env: Vec<(String, String)>,
    /// A daemon client's environment: it replaces the host's as the source of the profile's
    /// `[env] pass`, and a name the profile does not pass is refused.
    pub client_env: Option<Vec<(String, String)>>,
    pub argv: Vec<String>,
    pub vault_dir: Option<PathBuf>,
    pub report: bool,
    pub dry_run: bool,
    /// Readable (a byte or end-of-file) when the run must be cancelled: the sandbox is killed.
    pub cancel: Option<OwnedFd>,
    /// Extra read-write grants (the broker's socket directory).
    pub extra_write: Vec<PathBuf>,
    /// A pid 1 cloned ahead of the run (`serve`'s launcher), used when it fits the profile.
    pub prestarted: Option<launch::Prestarted>,
    /// The run's stdin, when it is not this process's fd 0.
    pub stdin: Option<OwnedFd>,
    /// `--workspace-mode` and `--on-exit` (None: the profile's, else direct and keep).
    pub workspace_mode: Option<WorkspaceMode>,
    pub on_exit: Option<OnExit>,
    /// `exec --raw-output`: stdout is relayed without the censor.
    pub raw_output: bool,
    /// `profile` as `serve`'s launcher loaded it earlier and found unchanged on disk; used
    /// only when loaded for this run's very context.
    pub cached: Option<crate::server::profile_cache::Cached>,
}

impl From<ExecArgs> for RunSpec {
    fn from(args: ExecArgs) -> RunSpec {
        RunSpec {
            profile: args.profile,
            workspace: args.workspace,
            cwd: None,
            timeout: args.timeout.map(TimeLimit::Override),
            env: args.env,
            client_env: None,
            argv: args.command,
            vault_dir: args.vault_dir,
            report: args.report,
            dry_run: args.dry_run,
            cancel: None,
            extra_write: Vec::new(),
            prestarted: None,
            stdin: None,
            workspace_mode: args.workspace_mode,
            on_exit: args.on_exit,
            raw_output: args.raw_output,
            cached: None,
        }
    }
}

/// How a run ended, for the CLI's exit status and the daemon's `exit` event.
#[derive(Debug, Default)]
pub struct RunResult {
    /// The exit status `exec` returns (see the CLI's EXIT STATUS).
    pub status: i32,
    /// The first error reported, when the run failed before or while it ran.
    pub error: Option<String>,
    /// How the started run ended (None when it never started).
    pub ending: Option<Ending>,
    /// The run was cancelled (its sandbox killed) at the caller's request.
    pub cancelled: bool,
}

/// Errors said on stderr, as every command does, and the first kept for the result.
#[derive(Debug, Default)]
struct Said(Option<String>);

impl Said {
    fn report(&mut self, e: &dyn std::fmt::Display) {
        report(e);
        if self.0.is_none() {
            self.0 = Some(crate::secrets::guard::censor(&e.to_string()));
        }
    }

    fn done(self, status: i32) -> RunResult {
        RunResult {
            status,
            error: self.0,
            ..RunResult::default()
        }
    }
}

/// `missy-sandbox exec`. `prestarted` is the pid 1 `main` cloned before parsing the command
/// line ([`launch::Prestarted::for_this_process`]): it creates its namespaces (the network one
/// is the slowest) and the base of its root while the profile is loaded and compiled. When
/// there is none (or it could not be cloned), `run_spec` clones one.
pub fn run(
    args: ExecArgs,
    audit_flag: Option<&str>,
    prestarted: Option<Result<launch::Prestarted, String>>,
) -> i32 {
    let prestarted = prestarted.and_then(|p| {
        p.inspect_err(|e| tracing::debug!(error = %e, "pid 1 not prestarted"))
            .ok()
    });
    // The run's end is recorded while pid 1 is still exiting; its remains (pid 1's exit, the
    // cgroups) are collected last, before this process exits.
    supervise::defer_teardown();
    let status = run_cli(args, audit_flag, prestarted);
    supervise::finish_teardown();
    status
}

fn run_cli(
    args: ExecArgs,
    audit_flag: Option<&str>,
    prestarted: Option<launch::Prestarted>,
) -> i32 {
    if !args.dry_run && args.broker.is_empty() {
        let mut spec = RunSpec::from(args);
        spec.prestarted = prestarted;
        return run_spec(spec, audit_flag).status;
    }
    // A dry run starts nothing; `--broker` forks its daemon before any pid 1 exists.
    if let Some(unused) = prestarted {
        unused.abort();
    }
    if args.dry_run {
        return run_spec(RunSpec::from(args), audit_flag).status;
    }
    // `--broker`: the tool-run daemon starts first, forked while this process is still
    // single-threaded, and serves the agent's sandbox through a socket granted to it.
    let profiles = args.broker.clone();
    let workspace = match context(args.workspace.as_deref()) {
        Ok(ctx) => ctx.workspace,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let broker = match Broker::start(profiles, &workspace, audit_flag) {
        Ok(b) => b,
        Err(e) => {
            report(&format!("--broker: {e}"));
            return EXIT_SETUP_FAILED;
        }
    };
    let mut spec = RunSpec::from(args);
    spec.extra_write.push(broker.dir().to_path_buf());
    spec.env.push((
        broker::SOCKET_ENV.to_string(),
        broker.socket.to_string_lossy().into_owned(),
    ));
    let status = run_spec(spec, audit_flag).status;
    broker.stop();
    status
}

/// Run one sandbox to its end. Must be called while the process is single-threaded (pid 1 is
/// cloned from it); stdin, stdout and stderr are the process's own fds 0-2.
pub fn run_spec(mut spec: RunSpec, audit_flag: Option<&str>) -> RunResult {
    let mut said = Said::default();
    let started = Instant::now();
    let run_id = audit::new_run_id();
    let change_set_id = run_id.clone();
    let span = tracing::info_span!("run", run = %run_id, profile = %spec.profile);
    let _entered = span.enter();
    let ctx = match context(spec.workspace.as_deref()) {
        Ok(ctx) => Context {
            cwd: spec.cwd.clone().unwrap_or(ctx.cwd),
            ..ctx
        },
        Err(e) => {
            said.report(&e);
            return said.done(EXIT_BAD_INPUT);
        }
    };
    let info = RunInfo {
        run: run_id,
        profile: spec.profile.clone(),
        profile_sha256: None,
        argv: spec.argv.clone(),
        cwd: ctx.cwd.to_string_lossy().into_owned(),
    };
    let cached = spec
        .cached
        .take()
        .filter(|c| crate::server::profile_cache::same_context(&c.ctx, &ctx));
    let loaded = match cached {
        Some(c) => Ok(c.policy),
        None => policy::load(&spec.profile, &ctx),
    };
    let mut policy = match loaded {
        Ok(p) => p,
        Err(e) => {
            said.report(&e);
            let config = AuditConfig::resolve(audit_flag, &Default::default(), &ctx.home);
            if !spec.dry_run
                && let Err(refused) =
                    RunAudit::new(&config, info).profile_load_failed(&e.to_string())
            {
                report(&refused.source);
            }
            return said.done(EXIT_BAD_INPUT);
        }
    };
    match spec.timeout {
        Some(TimeLimit::Override(limit)) => policy.limits.wall_time = Some(limit),
        Some(TimeLimit::AtMost(limit)) => {
            let current = policy.limits.wall_time.map_or(u64::MAX, |d| d.0);
            policy.limits.wall_time = Some(Millis(current.min(limit.0)));
        }
        None => {}
    }
    policy.write.extend(spec.extra_write.iter().cloned());
    let host_env = match &spec.client_env {
        Some(client) => match client::check_env(&policy, client) {
            Ok(()) => client.clone(),
            Err(e) => {
                said.report(&e);
                return said.done(EXIT_BAD_INPUT);
            }
        },
        None => std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
    };
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
    let secrets = if spec.dry_run {
        // A dry run shows the plan without opening the vault.
        policy
            .env_secrets
            .keys()
            .map(|k| (k.clone(), zeroize::Zeroizing::new("***".to_string())))
            .collect()
    } else {
        match secret_env::resolve(&policy, spec.vault_dir.as_deref()) {
            Ok(s) => s,
            Err(e) => {
                said.report(&e);
                return said.done(EXIT_BAD_INPUT);
            }
        }
    };
    // Vault values need a detector of this run's own; the patterns alone are built on first
    // use (the first output, or the first audit record).
    if !secrets.is_empty() {
        match secret_env::detector(&secrets) {
            Ok(d) => crate::secrets::guard::install(d),
            Err(e) => {
                said.report(&e);
                return said.done(EXIT_BAD_INPUT);
            }
        }
    }
    let mut env_overrides = spec.env;
    env_overrides.extend(secrets.iter().map(|(k, v)| (k.clone(), v.to_string())));
    let invocation = Invocation {
        argv: spec.argv,
        workspace: ctx.workspace.clone(),
        cwd: ctx.cwd.clone(),
        env_overrides,
        host_env,
    };
    if spec.dry_run {
        return match plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
            Ok(mut compiled) => match crate::changes::run::preview(
                spec.workspace_mode.or(policy.workspace_mode),
                &invocation.workspace,
                &change_set_id,
                &mut compiled.plan.mounts,
            )
            .map_err(|e| e.to_string())
            .and_then(|()| serde_json::to_string_pretty(&compiled.plan).map_err(|e| e.to_string()))
            {
                Ok(json) => {
                    println!("{}", crate::secrets::guard::censor(&json));
                    said.done(0)
                }
                Err(e) => {
                    said.report(&e);
                    said.done(EXIT_SETUP_FAILED)
                }
            },
            Err(e) => {
                let status = run_end::report_plan_error(&e, None);
                said.0 = Some(e.to_string());
                said.done(status)
            }
        };
    }
    // The censored output channels exist before pid 1, which takes them as its fds 1 and 2;
    // pid 1 creates its namespaces while the Plan is compiled (or has, when prestarted).
    let (mut stdio, cloned) = match launch::pid1(&policy, &invocation, spec.prestarted, spec.stdin)
    {
        Ok(s) => s,
        Err(e) => {
            said.report(&format!("cannot create the output channels: {e}"));
            return said.done(EXIT_SETUP_FAILED);
        }
    };
    let pending = match cloned {
        Ok(p) => p,
        Err(e) => {
            // A kernel that cannot give us the namespaces usually lacks more: the compiler's
            // list of every control it cannot enforce says more than the clone's errno.
            if let Err(plan_error) = plan::compile(&policy, &KernelFeatures::probe(), &invocation) {
                let status = run_end::report_plan_error(&plan_error, Some(&audit));
                said.0 = Some(plan_error.to_string());
                return said.done(status);
            }
            said.report(&e);
            let _ = audit.policy_refusal("launch", &e.to_string());
            return said.done(EXIT_SETUP_FAILED);
        }
    };
    let mut compiled = match launch::compile(&pending, &policy, &invocation) {
        Ok(c) => c,
        Err(e) => {
            pending.abort();
            let status = run_end::report_plan_error(&e, Some(&audit));
            said.0 = Some(e.to_string());
            return said.done(status);
        }
    };
    // Absent protected paths get their placeholders before pid 1 mounts over them; they are
    // removed when `_placeholders` is dropped, after the run.
    let _placeholders = if compiled.protected.is_empty() {
        None
    } else {
        let registry =
            crate::placeholders::registry_path(nix::unistd::geteuid().as_raw(), &ctx.home);
        match crate::placeholders::Placeholders::acquire(
            registry,
            &compiled.placeholders,
            &compiled.protected,
        ) {
            Ok(held) => Some(held),
            Err(e) => {
                pending.abort();
                said.report(&e);
                let _ = audit.policy_refusal("filesystem.protect", &e.to_string());
                return said.done(EXIT_SETUP_FAILED);
            }
        }
    };
    let unprotected = std::mem::take(&mut compiled.unprotected);
    let overlay = match crate::changes::run::for_mode(
        spec.workspace_mode,
        spec.on_exit,
        &policy,
        &invocation,
        &change_set_id,
        &mut compiled.plan.mounts,
    ) {
        Ok(o) => o,
        Err(e) => {
            pending.abort();
            said.report(&e);
            let _ = audit.policy_refusal("workspace-mode", &e);
            return said.done(EXIT_SETUP_FAILED);
        }
    };
    let mut degraded = Vec::new();
    for control in compiled.controls.iter().filter(|c| !c.status.is_enforced()) {
        degraded.push(control.describe());
    }
    if !degraded.is_empty() {
        // One line naming what is not enforced; the details go to the audit log.
        let ids: Vec<&str> = compiled
            .controls
            .iter()
            .filter(|c| !c.status.is_enforced())
            .map(|c| c.id.as_str())
            .collect();
        eprintln!(
            "missy-sandbox: WARNING: not enforced on this machine: {} (`missy-sandbox check` explains)",
            ids.join(", ")
        );
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
    // `--report`: the sources start before the sandbox may run, so they miss nothing of it.
    let watching = spec
        .report
        .then(|| report::sources::Watching::start(&policy, &mut compiled));
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
            said.report(&e);
            if let Some(o) = overlay {
                o.abandon();
            }
            return said.done(EXIT_SETUP_FAILED);
        }
        Err(e) => {
            said.report(&e);
            if let Some(o) = overlay {
                o.abandon();
            }
            let end = run_end::ending(EXIT_SETUP_FAILED, started, None);
            let _ = audit.setup_failure("launch", &e.to_string(), &end);
            return said.done(EXIT_SETUP_FAILED);
        }
    };
    // The runtime starts only now: pid 1 was cloned from a single-threaded process.
    let runtime = match super::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            said.report(&e);
            return said.done(EXIT_SETUP_FAILED);
        }
    };
    let cancelled = spec
        .cancel
        .map(|fd| client::watch_cancel(fd, launched.pid, &runtime));
    if spec.raw_output {
        stdio.pass_stdout_raw();
    }
    let relays = stdio.start(crate::secrets::guard::detector, &runtime);
    let (watching, handoff) = match watching {
        Some(w) => {
            let (w, handoff) = w.running(launched.pid.as_raw());
            (Some(w), Some(handoff))
        }
        None => (None, None),
    };
    let waited = runtime.block_on(supervise::wait(launched, wall_time, egress, handoff));
    // Every byte the sandbox wrote is relayed before any report and before exec returns.
    let relayed = relays.finish(&runtime);
    if relayed.redactions > 0 {
        tracing::info!(
            redactions = relayed.redactions,
            "secrets censored in the sandbox's output"
        );
    }
    if let Some(warning) = plan::protect::created_unprotected(&unprotected) {
        report(&warning);
    }
    let denial_report = watching.map(report::sources::Running::finish);
    if let Some(r) = &denial_report {
        eprint!(
            "{}",
            crate::secrets::guard::censor(&crate::report::render(r))
        );
    }
    match waited {
        Ok(supervise::Waited { outcome, usage }) => {
            if let Outcome::SetupFailed { error, .. } = &outcome {
                said.report(error);
            }
            let message = run_end::message(&outcome, memory_limit);
            let cancelled = cancelled.is_some_and(|c| c.load(Ordering::SeqCst));
            let message = if cancelled {
                Some("cancelled: the sandbox was killed".to_string())
            } else {
                message
            };
            if let Some(m) = &message {
                report(m);
            }
            let status = outcome.exit_status();
            if let Some(overlay) = overlay {
                if matches!(outcome, Outcome::SetupFailed { .. }) {
                    overlay.abandon();
                } else {
                    overlay.finish(status);
                }
            }
            let mut end = run_end::ending(status, started, message);
            if let Some(usage) = usage {
                end.resources = usage;
            }
            end.resources.output_bytes = Some(relayed.bytes);
            end.report = denial_report;
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
            RunResult {
                status,
                error: said.0,
                ending: Some(end),
                cancelled,
            }
        }
        Err(e) => {
            said.report(&format!("waiting for the sandbox: {e}"));
            said.done(EXIT_SETUP_FAILED)
        }
    }
}
