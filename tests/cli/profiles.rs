//! The profile commands and their errors.

use std::process::Command;

use crate::harness::*;

fn missy(args: &[&str]) -> std::process::Output {
    Command::new(sandbox_bin()).args(args).output().unwrap()
}

#[test]
fn a_malformed_profile_is_rejected_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "extends = \"strict\"\n[limits]\nmemory = \"lots\"\n").unwrap();
    let out = missy(&["profile", "validate", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("bad.toml:3") && err.contains("limits.memory"),
        "{err}"
    );
    // exec refuses the same profile before starting anything.
    let out = missy(&["exec", "--profile", bad.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn shipped_profiles_validate_and_list() {
    for name in ["base", "strict", "dev", "ci-strict"] {
        let out = missy(&["profile", "validate", name]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = String::from_utf8_lossy(&missy(&["profile", "list"]).stdout).to_string();
    for name in ["base", "strict", "dev", "ci-strict"] {
        assert!(list.contains(name), "{list}");
    }
}

#[test]
fn explain_names_the_mechanism_for_each_rule() {
    let out = missy(&["profile", "explain", "strict"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for needle in [
        "/usr",
        "read-only bind",
        "Landlock",
        "ptrace",
        "EPERM",
        "network namespace",
        "processes",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn check_reports_the_kernel_and_passes_for_the_default_profile() {
    let out = missy(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Landlock ABI") && text.contains("profile strict (default): runs here: yes"),
        "{text}"
    );
    let json = missy(&["check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["landlock"]["abi"].as_u64().unwrap() >= 1);
}

/// Write a profile file extending `strict` into `dir`, owned so that `user` can read it.
fn custom_profile(dir: &Scratch, user: User, body: &str) -> String {
    let p = dir.file(
        "custom.toml",
        &format!("extends = \"strict\"\n{body}"),
        user,
    );
    p.to_str().unwrap().to_string()
}

#[test]
fn masked_paths_are_hidden_inside_a_granted_tree() {
    for user in USERS {
        let ws = Scratch::new(user);
        let tree = Scratch::new(user);
        let visible = tree.file("visible.txt", "fine\n", user);
        let hidden_dir = tree.path().join("credentials");
        std::fs::create_dir(&hidden_dir).unwrap();
        chown(&hidden_dir, user);
        let hidden = hidden_dir.join("key");
        std::fs::write(&hidden, "secret\n").unwrap();
        chown(&hidden, user);
        let profile = custom_profile(
            &ws,
            user,
            &format!(
                "[filesystem]\nread = [\"{}\"]\nmask = [\"{}\"]\n",
                tree.path().display(),
                hidden_dir.display()
            ),
        );
        let ok = sandboxed(
            user,
            &ws,
            &profile,
            &["read-file", visible.to_str().unwrap()],
        );
        assert!(
            ok.is("ESCAPED"),
            "as {user:?}: the granted file must be readable: {ok:?}"
        );
        let out = unsandboxed(user, &ws, &["read-file", hidden.to_str().unwrap()]);
        let inside = sandboxed(
            user,
            &ws,
            &profile,
            &["read-file", hidden.to_str().unwrap()],
        );
        assert_denied(user, "read a masked file", &out, &inside);
    }
}

#[test]
fn host_network_mode_is_an_explicit_opt_in() {
    for user in USERS {
        let ws = Scratch::new(user);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let profile = custom_profile(&ws, user, "[network]\nmode = \"host\"\n");
        let v = sandboxed(user, &ws, &profile, &["tcp-connect", &addr]);
        assert!(
            v.is("ESCAPED"),
            "as {user:?}: mode = host must reach the host network: {v:?}"
        );
        let v = sandboxed(user, &ws, "strict", &["tcp-connect", &addr]);
        assert!(v.is("BLOCKED"), "as {user:?}: {v:?}");
    }
}

#[test]
fn a_setup_failure_exits_125_naming_the_step_and_errno() {
    // One process in all for the unprivileged user: RLIMIT_NPROC counts the uid's processes,
    // the sandbox's init among them, so the init cannot fork the workload. (Root's limit is a
    // pids cgroup that holds the workload only: see the next test.)
    let user = User::Nobody;
    let ws = Scratch::new(user);
    let profile = custom_profile(&ws, user, "[limits]\nprocesses = 1\n");
    let out = exec_command(user, &ws, &profile, &["--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "as {user:?}: {err}");
    assert!(
        err.contains("setup failed at fork-") && err.contains("EAGAIN"),
        "as {user:?}: {err}"
    );
}

#[test]
fn a_pids_cgroup_counts_the_workloads_processes_and_not_the_init() {
    let user = User::Root;
    let ws = Scratch::new(user);
    let profile = custom_profile(&ws, user, "[limits]\nprocesses = 1\n");
    // The workload is the one process: it runs, and its first fork is refused.
    let out = exec_command(user, &ws, &profile, &["--", "sh", "-c", "/bin/true & wait"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert_ne!(out.status.code(), Some(125), "{err}");
    assert!(err.to_lowercase().contains("fork"), "{err}");
    let two = custom_profile(&ws, user, "[limits]\nprocesses = 2\n");
    let out = exec_command(user, &ws, &two, &["--", "sh", "-c", "/bin/true & wait"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn egress_keys_without_the_proxy_and_over_broad_rules_are_refused() {
    let ws = Scratch::new(User::Root);
    for (body, key, line) in [
        (
            "[network]\nmode = \"proxy\"\nallow = [\"*.com\"]\n",
            "network.allow",
            4,
        ),
        (
            "[network]\nmode = \"none\"\nallow = [\"crates.io\"]\n",
            "network.allow",
            4,
        ),
        (
            "[network]\nallow_cidrs = [\"10.0.0.0/8\"]\n",
            "network.allow_cidrs",
            3,
        ),
    ] {
        let profile = custom_profile(&ws, User::Root, body);
        let out = missy(&["exec", "--profile", &profile, "--", "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body}: {err}");
        assert!(
            err.contains(key) && err.contains(&format!("custom.toml:{line}")),
            "{body}: {err}"
        );
    }
}
