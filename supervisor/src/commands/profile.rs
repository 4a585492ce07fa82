//! `missy-sandbox profile list | show | validate | explain`.

use std::path::Path;

use crate::commands::{EXIT_BAD_INPUT, context, report};
use crate::kernel::KernelFeatures;
use crate::plan::{self, Access, Invocation, MountOp};
use crate::policy::{self, Policy, Require, resolve};

/// Everything this command prints goes through the secret censor: a profile may carry a
/// credential in an `env.set` value.
macro_rules! println {
    () => {
        std::println!()
    };
    ($($arg:tt)*) => {
        std::println!("{}", crate::secrets::guard::censor(&format!($($arg)*)))
    };
}

pub fn list() -> i32 {
    let mut seen = std::collections::BTreeSet::new();
    for dir in resolve::search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<_> = entries
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "toml")
                    .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()))?
            })
            .collect();
        names.sort();
        for name in names {
            let shadowed = !seen.insert(name.clone());
            let origin = dir.join(format!("{name}.toml"));
            println!(
                "{:<16} {}{}",
                name,
                origin.display(),
                if shadowed { "  (shadowed)" } else { "" }
            );
        }
    }
    for (name, text) in resolve::SHIPPED {
        let shadowed = !seen.insert((*name).to_string());
        let desc = resolve::parse(name, "", None, (*text).to_string())
            .ok()
            .and_then(|f| f.raw.description)
            .unwrap_or_default();
        println!(
            "{:<16} <shipped>  {}{}",
            name,
            desc,
            if shadowed { "  (shadowed)" } else { "" }
        );
    }
    0
}

fn load(reference: &str, workspace: Option<&Path>) -> Result<Policy, i32> {
    let ctx = context(workspace).map_err(|e| {
        report(&e);
        EXIT_BAD_INPUT
    })?;
    policy::load(reference, &ctx).map_err(|e| {
        report(&e);
        EXIT_BAD_INPUT
    })
}

pub fn show(reference: &str, workspace: Option<&Path>) -> i32 {
    match load(reference, workspace) {
        Ok(policy) => match serde_json::to_string_pretty(&policy) {
            Ok(s) => {
                println!("{s}");
                0
            }
            Err(e) => {
                report(&e);
                1
            }
        },
        Err(code) => code,
    }
}

pub fn validate(reference: &str) -> i32 {
    match load(reference, None) {
        Ok(policy) => {
            println!(
                "{}: ok ({} file(s): {})",
                reference,
                policy.chain.len(),
                policy.chain.join(" -> ")
            );
            0
        }
        Err(code) => code,
    }
}

fn describe(access: Access) -> &'static str {
    match access {
        Access::List => "list entries only",
        Access::Read => "read files, list directories",
        Access::Exec => "read, list, execute",
        Access::Write => "all file rights (create, write, remove, rename, execute)",
    }
}

pub fn explain(reference: &str, workspace: Option<&Path>) -> i32 {
    let mut policy = match load(reference, workspace) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let strict = policy.require == Require::Strict;
    // Explain what would be enforced even where strict mode would refuse.
    policy.require = Require::BestEffort;
    let kernel = KernelFeatures::probe();
    let Ok(ctx) = context(workspace) else {
        return EXIT_BAD_INPUT;
    };
    let inv = Invocation {
        argv: vec!["CMD".into()],
        workspace: ctx.workspace,
        cwd: ctx.cwd,
        env_overrides: vec![],
        host_env: vec![],
    };
    let compiled = match plan::compile(&policy, &kernel, &inv) {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let p = &compiled.plan;
    println!("profile {} — {}", policy.name, policy.description);
    println!("  from: {}", policy.chain.join(" -> "));
    println!(
        "  kernel.require = {}",
        if strict {
            "strict (refuse to run if a control cannot be enforced)"
        } else {
            "best-effort"
        }
    );
    if !policy.optional_controls.is_empty() {
        println!(
            "  kernel.optional = {} (a strict run goes on without them)",
            policy.optional_controls.join(", ")
        );
    }
    if p.namespaces {
        println!(
            "\nFILESYSTEM  (mount namespace: only what is listed exists; Landlock ABI {} checks every access)",
            p.landlock.abi
        );
    } else {
        println!(
            "\nFILESYSTEM  (no mount namespace: the host's files; Landlock ABI {} denies access outside these)",
            p.landlock.abi
        );
    }
    for rule in &p.landlock.rules {
        let mount = p.mounts.iter().find_map(|op| match op {
            MountOp::Bind { path, writable, .. } if rule.path.starts_with(path) => {
                Some(if *writable {
                    "read-write bind"
                } else {
                    "read-only bind"
                })
            }
            _ => None,
        });
        let mount = mount.unwrap_or_else(|| {
            if rule.path.starts_with("/proc") {
                "fresh procfs (sandbox processes only)"
            } else if rule.path.starts_with("/dev") {
                "minimal /dev"
            } else if rule.path == Path::new("/tmp") {
                "private tmpfs"
            } else {
                "—"
            }
        });
        println!(
            "  {:<40} mount: {:<38} Landlock: {}",
            rule.path.display(),
            mount,
            describe(rule.access)
        );
    }
    for op in &p.mounts {
        match op {
            MountOp::MaskDir { path } | MountOp::MaskFile { path } => {
                println!(
                    "  {:<40} masked: hidden under an empty read-only mount",
                    path.display()
                )
            }
            MountOp::Symlink { link, target } => {
                println!("  {:<40} symlink -> {}", link.display(), target.display())
            }
            MountOp::Placeholder { path } => println!(
                "  {:<40} protected: absent, kept from being created (an empty read-only directory for the run)",
                path.display()
            ),
            MountOp::Bind {
                path,
                writable: false,
                ..
            } if compiled.protected.contains(path) => println!(
                "  {:<40} protected: read-only inside the writable grant",
                path.display()
            ),
            _ => {}
        }
    }
    for path in &compiled.skipped_paths {
        println!(
            "  {:<40} skipped: optional, does not exist on this machine",
            path.display()
        );
    }
    println!("\nNETWORK");
    if let Some(port) = p.proxy_port {
        println!(
            "  mode = proxy: new network namespace with only loopback; the egress proxy listens on 127.0.0.1:{port} inside it{}",
            if p.landlock.abi >= 4 {
                format!("; Landlock denies every TCP bind and every connect but to port {port}")
            } else {
                String::new()
            }
        );
        for rule in &policy.allow {
            println!(
                "  allow {:<34} proxy (host rule, checked before any lookup)",
                rule.to_string()
            );
        }
        for net in &policy.allow_cidrs {
            println!(
                "  allow_cidrs {:<28} proxy (address range, also exempt from the blocked ranges)",
                net.to_string()
            );
        }
        for (name, ips) in &policy.hosts {
            println!("  hosts {name:<34} pinned to {ips:?}, never asked of DNS");
        }
        println!(
            "  blocked unless in allow_cidrs: loopback, private, link-local, CGNAT, multicast, reserved, unique-local, cloud metadata"
        );
    } else if p.new_netns {
        println!(
            "  mode = none: new network namespace with only loopback{}",
            if p.landlock.abi >= 4 {
                "; Landlock denies every TCP bind and connect"
            } else {
                ""
            }
        );
    } else {
        println!("  mode = host: the host's network (explicit opt-in); no network isolation");
    }
    println!("\nSYSTEM CALLS  (seccomp, installed last before exec; x86_64 and aarch64)");
    for entry in plan::seccomp::deny_table() {
        let cond = if entry.condition.is_empty() {
            String::new()
        } else {
            format!(" when {}", entry.condition)
        };
        println!(
            "  {:<22} {:<13} {}{}",
            entry.syscall, entry.action, entry.reason, cond
        );
    }
    println!("\nPROCESS");
    println!(
        "  capabilities: all five sets cleared; no_new_privs; new session (no controlling terminal)"
    );
    println!(
        "  namespaces: user (root inside = uid {} outside), mount, pid, ipc, uts, cgroup{}",
        p.uid,
        if p.new_netns { ", network" } else { "" }
    );
    println!("  parent-death signal at every level: nothing outlives the supervisor");
    println!("\nLIMITS");
    for (name, how) in &compiled.limits.mechanisms {
        match how {
            Ok(h) => println!("  {name:<12} {h}"),
            Err(e) => println!("  {name:<12} NOT ENFORCED: {e}"),
        }
    }
    println!("  core dumps   RLIMIT_CORE=0");
    println!("\nENVIRONMENT  (cleared, then:)");
    println!("  pass: {}", policy.env_pass.join(" "));
    for (k, v) in &policy.env_set {
        println!("  set:  {k}={v}");
    }
    for (k, v) in &policy.env_secrets {
        println!("  secret: {k} <- vault://{v} (resolved at launch; censored in the output)");
    }
    println!(
        "  host variables with secret-looking names (TOKEN, SECRET, PASSWORD, API_KEY, AWS_*, ...) never pass, even when named"
    );
    println!("\nENFORCEMENT ON THIS KERNEL");
    if !compiled.plan.namespaces {
        println!("  launch path: no namespaces (this user cannot create user namespaces)");
    }
    for c in &compiled.controls {
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
    let unmet = crate::plan::enforcement::unmet(&compiled.controls);
    if strict && !unmet.is_empty() {
        let ids: Vec<&str> = unmet.iter().map(|c| c.id.as_str()).collect();
        println!(
            "\nexec REFUSES this strict profile here: not enforced: {}",
            ids.join(", ")
        );
    }
    0
}
