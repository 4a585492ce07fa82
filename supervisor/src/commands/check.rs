//! `missy-sandbox check`: what this kernel can enforce, and whether each shipped profile can run
//! strictly here.

use serde::Serialize;

use crate::commands::{context, report};
use crate::kernel::KernelFeatures;
use crate::plan::{self, Control, Invocation};
use crate::policy::{self, DEFAULT_PROFILE, Require, SHIPPED};

#[derive(Debug, Serialize)]
struct ProfileReport {
    profile: String,
    enforceable_strictly: bool,
    controls: Vec<Control>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    kernel: KernelFeatures,
    user_namespaces_trial: Result<(), String>,
    profiles: Vec<ProfileReport>,
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
        policy.require = Require::BestEffort;
        let inv = Invocation {
            argv: vec!["true".into()],
            workspace: ctx.workspace.clone(),
            cwd: ctx.cwd.clone(),
            env_overrides: vec![],
            host_env: vec![],
        };
        plan::compile(&policy, kernel, &inv).map_err(|e| e.to_string())
    });
    match outcome {
        Ok(compiled) => ProfileReport {
            profile: name.to_string(),
            enforceable_strictly: compiled.controls.iter().all(|c| c.status.is_enforced()),
            controls: compiled.controls,
            error: None,
        },
        Err(e) => ProfileReport {
            profile: name.to_string(),
            enforceable_strictly: false,
            controls: vec![],
            error: Some(e),
        },
    }
}

pub fn run(json: bool) -> i32 {
    sweep_placeholders();
    let mut kernel = KernelFeatures::probe();
    let trial = try_user_namespace();
    if let (Ok(()), Err(why)) = (&kernel.user_namespaces, &trial) {
        kernel.user_namespaces = Err(format!("creating a user namespace failed: {why}"));
    }
    let profiles: Vec<ProfileReport> = SHIPPED
        .iter()
        .map(|(name, _)| assess_profile(name, &kernel))
        .collect();
    let default_ok = profiles
        .iter()
        .any(|p| p.profile == DEFAULT_PROFILE && p.enforceable_strictly);
    let report_data = Report {
        kernel,
        user_namespaces_trial: trial,
        profiles,
    };
    if json {
        match serde_json::to_string_pretty(&report_data) {
            Ok(s) => println!("{s}"),
            Err(e) => report(&e),
        }
    } else {
        print_table(&report_data);
    }
    if default_ok { 0 } else { 1 }
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

fn print_table(r: &Report) {
    let k = &r.kernel;
    println!(
        "kernel {} ({})",
        k.release,
        k.arch.map_or("unsupported arch", |a| a.name())
    );
    println!("  running as uid {} gid {}", k.euid, k.egid);
    println!(
        "  Landlock ABI           {}",
        if k.landlock_abi == 0 {
            "unavailable".to_string()
        } else {
            k.landlock_abi.to_string()
        }
    );
    println!("  seccomp filters        {}", yes_no(k.seccomp_filter));
    match &k.user_namespaces {
        Ok(()) => println!("  user namespaces        yes"),
        Err(why) => println!("  user namespaces        NO: {why}"),
    }
    let cg = &k.cgroups;
    println!(
        "  cgroups                pids: {}, memory: {}{}",
        cg.pids
            .as_ref()
            .map_or("no".to_string(), |p| format!("v1 at {}", p.display())),
        cg.memory
            .as_ref()
            .map_or("no".to_string(), |p| format!("v1 at {}", p.display())),
        cg.note
            .as_ref()
            .map_or(String::new(), |n| format!(" ({n})"))
    );
    println!(
        "  limits in force use    {}",
        if cg.pids.is_some() || cg.memory.is_some() {
            "cgroups where listed above, rlimits for the rest"
        } else {
            "rlimits only"
        }
    );
    for p in &r.profiles {
        let marker = if p.profile == DEFAULT_PROFILE {
            " (default)"
        } else {
            ""
        };
        println!();
        println!(
            "profile {}{}: strictly enforceable here: {}",
            p.profile,
            marker,
            yes_no(p.enforceable_strictly)
        );
        if let Some(e) = &p.error {
            println!("  error: {e}");
        }
        for c in &p.controls {
            println!("  {:<48} {}", c.name, c.status);
        }
    }
}
