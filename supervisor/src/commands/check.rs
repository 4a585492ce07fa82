//! `missy-sandbox check`: what this machine can enforce, why a feature is missing and the exact
//! remedy, and what each shipped profile would enforce here. `check --json` prints the same as
//! a stable document (schema in docs/portability.md; `schema` is bumped on any incompatible
//! change).

use serde::Serialize;

use crate::commands::{context, report};
use crate::kernel::{Gap, KernelFeatures, LANDLOCK_ABI_KNOWN};
use crate::plan::{self, Control, Invocation, enforcement};
use crate::policy::{self, DEFAULT_PROFILE, Require, SHIPPED};

/// Version of the `check --json` document.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Serialize)]
struct Report {
    schema: u32,
    machine: Machine,
    user_namespaces: Feature,
    landlock: Landlock,
    seccomp: Seccomp,
    cgroups: Cgroups,
    /// "namespaces" or "no-namespaces": how `exec` would launch here.
    launch_path: &'static str,
    profiles: Vec<ProfileReport>,
}

#[derive(Debug, Serialize)]
struct Machine {
    release: String,
    arch: Option<&'static str>,
    uid: u32,
    gid: u32,
    container: Option<String>,
    /// `MISSY_SANDBOX_CAP_FEATURES` items in force (tests only).
    capped: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Feature {
    available: bool,
    reason: Option<String>,
    remedy: Option<String>,
}

impl Feature {
    fn of(result: &Result<(), Gap>) -> Feature {
        match result {
            Ok(()) => Feature {
                available: true,
                reason: None,
                remedy: None,
            },
            Err(g) => Feature {
                available: false,
                reason: Some(g.reason.clone()),
                remedy: g.remedy.clone(),
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct Landlock {
    /// 0 when Landlock is unavailable.
    abi: u8,
    /// The highest ABI this build uses.
    known_abi: u8,
    /// What each ABI level above this kernel's would add.
    missing: Vec<AbiLevel>,
    remedy: Option<String>,
}

#[derive(Debug, Serialize)]
struct AbiLevel {
    abi: u8,
    linux: &'static str,
    adds: &'static str,
}

/// Each Landlock ABI level: the first Linux release with it, and what it lets the sandbox deny.
const ABI_LEVELS: [(u8, &str, &str); 7] = [
    (
        1,
        "5.13",
        "filesystem access rules (read, write, execute, create, remove)",
    ),
    (
        2,
        "5.19",
        "renaming and linking files between directories (refer)",
    ),
    (3, "6.2", "truncating files that are only readable"),
    (
        4,
        "6.7",
        "TCP bind and connect rules (network isolation without a network namespace)",
    ),
    (5, "6.10", "ioctl on device files"),
    (
        6,
        "6.12",
        "scopes: signals and abstract Unix sockets outside the sandbox",
    ),
    (
        7,
        "6.15",
        "logging of denials to the audit subsystem (exec --report)",
    ),
];

#[derive(Debug, Serialize)]
struct Seccomp {
    filter: bool,
    user_notification: bool,
}

#[derive(Debug, Serialize)]
struct Cgroups {
    version: &'static str,
    v2_delegated: bool,
    pids: Option<String>,
    memory: Option<String>,
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct ProfileReport {
    profile: String,
    default: bool,
    require: Option<Require>,
    /// Every control enforced (a strict profile runs).
    fully_enforced: bool,
    /// `exec` would run it here (strict: every non-optional control enforced).
    runs: bool,
    controls: Vec<Control>,
    error: Option<String>,
}

/// Actually try to create a user namespace, in a fresh single-threaded child (`__probe-userns`):
/// sysctls do not reveal every LSM policy that may refuse it.
fn try_user_namespace() -> Result<(), String> {
    let status = std::process::Command::new("/proc/self/exe")
        .arg("__probe-userns")
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run the probe: {e}"))?;
    if status.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&status.stderr).trim().to_string())
    }
}

fn assess_profile(name: &str, kernel: &KernelFeatures) -> ProfileReport {
    let outcome = context(None).map_err(|e| e.to_string()).and_then(|ctx| {
        let mut policy = policy::load(name, &ctx).map_err(|e| e.to_string())?;
        let require = policy.require;
        policy.require = Require::BestEffort;
        let inv = Invocation {
            argv: vec!["true".into()],
            workspace: ctx.workspace.clone(),
            cwd: ctx.cwd.clone(),
            env_overrides: vec![],
            host_env: vec![],
        };
        let compiled = plan::compile(&policy, kernel, &inv).map_err(|e| e.to_string())?;
        Ok((require, compiled.controls))
    });
    let default = name == DEFAULT_PROFILE;
    match outcome {
        Ok((require, controls)) => ProfileReport {
            profile: name.to_string(),
            default,
            require: Some(require),
            fully_enforced: controls.iter().all(|c| c.status.is_enforced()),
            runs: require == Require::BestEffort || enforcement::unmet(&controls).is_empty(),
            controls,
            error: None,
        },
        Err(e) => ProfileReport {
            profile: name.to_string(),
            default,
            require: None,
            fully_enforced: false,
            runs: false,
            controls: vec![],
            error: Some(e),
        },
    }
}

fn build(mut kernel: KernelFeatures) -> Report {
    // The trial is skipped when the probe already says no (or was capped to say so).
    if kernel.user_namespaces.is_ok()
        && let Err(why) = try_user_namespace()
    {
        kernel.user_namespaces = Err(Gap::new(
            format!("creating a user namespace failed: {why}"),
            Some(if kernel.container.is_some() {
                "run the container with user namespaces allowed (e.g. docker --security-opt seccomp=unconfined --security-opt apparmor=unconfined, or a runtime that permits CLONE_NEWUSER)"
            } else {
                crate::kernel::APPARMOR_REMEDY
            }),
        ));
    }
    let profiles = SHIPPED
        .iter()
        .map(|(name, _)| assess_profile(name, &kernel))
        .collect();
    let abi = kernel.landlock_abi;
    let missing: Vec<AbiLevel> = ABI_LEVELS
        .iter()
        .filter(|(level, _, _)| *level > abi)
        .map(|&(abi, linux, adds)| AbiLevel { abi, linux, adds })
        .collect();
    let cg = &kernel.cgroups;
    Report {
        schema: SCHEMA,
        machine: Machine {
            release: kernel.release.clone(),
            arch: kernel.arch.map(|a| a.name()),
            uid: kernel.euid,
            gid: kernel.egid,
            container: kernel.container.clone(),
            capped: kernel.capped.clone(),
        },
        user_namespaces: Feature::of(&kernel.user_namespaces),
        landlock: Landlock {
            abi,
            known_abi: LANDLOCK_ABI_KNOWN,
            remedy: missing.last().map(|top| {
                if abi == 0 {
                    "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= list"
                        .into()
                } else {
                    format!("Linux {} or later for every Landlock control", top.linux)
                }
            }),
            missing,
        },
        seccomp: Seccomp {
            filter: kernel.seccomp_filter,
            user_notification: kernel.seccomp_notify,
        },
        cgroups: Cgroups {
            version: cg.version,
            v2_delegated: cg.v2_delegated,
            pids: cg.pids.as_ref().map(|p| p.display().to_string()),
            memory: cg.memory.as_ref().map(|p| p.display().to_string()),
            note: cg.note.clone(),
        },
        launch_path: if kernel.user_namespaces.is_ok() {
            "namespaces"
        } else {
            "no-namespaces"
        },
        profiles,
    }
}

/// Exit status: 0 when the default profile runs here, 1 otherwise.
pub fn run(json: bool) -> i32 {
    sweep_placeholders();
    let r = build(KernelFeatures::probe());
    let default_runs = r.profiles.iter().any(|p| p.default && p.runs);
    if json {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => report(&e),
        }
    } else {
        print_text(&r);
    }
    if default_runs { 0 } else { 1 }
}

/// Placeholders of protected paths left by a SIGKILLed supervisor go here too, not only at the
/// next run.
fn sweep_placeholders() {
    let euid = nix::unistd::geteuid().as_raw();
    let registry = crate::placeholders::registry_path(euid, &super::home_dir());
    let removed = crate::placeholders::sweep(&registry);
    if removed > 0 {
        eprintln!(
            "missy-sandbox: removed {removed} placeholder(s) of protected paths left by runs that were killed"
        );
    }
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}

fn print_text(r: &Report) {
    let m = &r.machine;
    println!(
        "kernel {} ({}), uid {} gid {}{}",
        m.release,
        m.arch.unwrap_or("unsupported arch"),
        m.uid,
        m.gid,
        m.container
            .as_ref()
            .map_or(String::new(), |c| format!(", inside a {c} container"))
    );
    if !m.capped.is_empty() {
        println!("  features capped for testing: {}", m.capped.join(", "));
    }
    let u = &r.user_namespaces;
    println!("  user namespaces        {}", yes_no(u.available));
    print_gap(u.reason.as_deref(), u.remedy.as_deref());
    let l = &r.landlock;
    println!(
        "  Landlock ABI           {}",
        if l.abi == 0 {
            "unavailable".to_string()
        } else {
            format!("{} (this build uses up to {})", l.abi, l.known_abi)
        }
    );
    for level in &l.missing {
        println!(
            "    missing ABI {} (Linux {}): {}",
            level.abi, level.linux, level.adds
        );
    }
    print_gap(None, l.remedy.as_deref());
    println!(
        "  seccomp filters        {} (user notification: {})",
        yes_no(r.seccomp.filter),
        yes_no(r.seccomp.user_notification)
    );
    let cg = &r.cgroups;
    println!(
        "  cgroups                {}{}; pids: {}, memory: {}",
        cg.version,
        if cg.v2_delegated { " (delegated)" } else { "" },
        cg.pids.as_deref().unwrap_or("no"),
        cg.memory.as_deref().unwrap_or("no"),
    );
    print_gap(cg.note.as_deref(), None);
    println!("  launch path            {}", r.launch_path);
    for p in &r.profiles {
        println!();
        println!(
            "profile {}{}: runs here: {}; every control enforced: {}",
            p.profile,
            if p.default { " (default)" } else { "" },
            yes_no(p.runs),
            yes_no(p.fully_enforced)
        );
        if let Some(e) = &p.error {
            println!("  error: {e}");
        }
        for c in &p.controls {
            println!(
                "  {:<18} {}{}",
                c.id,
                c.status,
                if c.optional { " (optional)" } else { "" }
            );
            if let Some(remedy) = &c.remedy {
                println!("  {:<18} remedy: {remedy}", "");
            }
        }
    }
}

fn print_gap(reason: Option<&str>, remedy: Option<&str>) {
    if let Some(reason) = reason {
        println!("    why: {reason}");
    }
    if let Some(remedy) = remedy {
        println!("    remedy: {remedy}");
    }
}
