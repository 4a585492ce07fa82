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
        text.contains("Landlock ABI")
            && text.contains("profile strict (default): strictly enforceable here: yes"),
        "{text}"
    );
    let json = missy(&["check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(v["kernel"]["landlock_abi"].as_u64().unwrap() >= 1);
}
