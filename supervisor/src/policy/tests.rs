//! Profile loading: shipped profiles, merging, placeholders and error locations.

use std::path::PathBuf;

use super::error::PolicyError;
use super::resolve::{self, SHIPPED};
use super::*;

fn ctx() -> Context {
    Context {
        workspace: PathBuf::from("/work/ws"),
        home: PathBuf::from("/home/u"),
        cwd: PathBuf::from("/work/ws"),
    }
}

fn load_text(text: &str) -> Result<Policy, PolicyError> {
    let file = resolve::parse("t", "t.toml", None, text.to_string())?;
    model::build(&[file], &ctx())
}

#[test]
fn every_shipped_profile_loads() {
    for (name, _) in SHIPPED {
        let p = load(name, &ctx()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.require, Require::Strict, "{name}");
        assert_eq!(p.network, NetworkMode::None, "{name}");
    }
}

#[test]
fn strict_grants_workspace_and_tmp_and_masks_credentials() {
    let p = load("strict", &ctx()).unwrap();
    assert!(p.write.contains(&PathBuf::from("/work/ws")));
    assert!(p.write.contains(&PathBuf::from("/tmp")));
    assert!(p.mask.contains(&PathBuf::from("/home/u/.ssh")));
    assert!(p.exec.contains(&PathBuf::from("/usr")));
    assert_eq!(p.limits.processes, Some(256));
    assert_eq!(p.chain.len(), 2);
}

#[test]
fn child_scalars_override_and_lists_concatenate() {
    let p = load("ci-strict", &ctx()).unwrap();
    assert_eq!(p.limits.processes, Some(64), "ci-strict overrides strict");
    assert_eq!(p.limits.tmp_size, Some(units::ByteSize(128 << 20)));
    assert!(
        p.read.contains(&PathBuf::from("/etc/passwd")),
        "inherited from base"
    );
    let dev = load("dev", &ctx()).unwrap();
    assert!(
        dev.exec.contains(&PathBuf::from("/usr"))
            && dev.exec.contains(&PathBuf::from("/usr/local"))
    );
    assert_eq!(
        dev.exec
            .iter()
            .filter(|p| p.as_path() == std::path::Path::new("/usr"))
            .count(),
        1,
        "no duplicates"
    );
}

#[test]
fn unknown_keys_are_errors_with_line_and_key() {
    let err = load_text("[filesystem]\nread = [\"/usr\"]\nwrite_all = true\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("t.toml:3"), "{msg}");
    assert!(msg.contains("filesystem.write_all"), "{msg}");
    assert!(msg.contains("unknown field"), "{msg}");
}

#[test]
fn bad_values_name_the_key_and_what_was_expected() {
    let err = load_text("[limits]\nmemory = \"2XB\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:2") && err.contains("limits.memory") && err.contains("64MiB"),
        "{err}"
    );
    let err = load_text("[filesystem]\nread = [\"relative/path\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:2") && err.contains("filesystem.read") && err.contains("absolute"),
        "{err}"
    );
    let err = load_text("[filesystem]\nread = [\"{nope}/x\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown placeholder"), "{err}");
    let err = load_text("[network]\nmode = \"proxy\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("network.mode") && err.contains("not available"),
        "{err}"
    );
    let err = load_text("[network]\nmode = \"wide-open\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("network.mode"), "{err}");
    let err = load_text("[limits]\nprocesses = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("limits.processes") && err.contains("positive"),
        "{err}"
    );
}

#[test]
fn placeholders_expand() {
    let p = load_text("[filesystem]\nread = [\"{home}/.cargo\", \"{tmp}\", \"{cwd}/x\"]\nwrite = [\"{workspace}\"]\n").unwrap();
    assert_eq!(
        p.read,
        vec![
            PathBuf::from("/home/u/.cargo"),
            PathBuf::from("/tmp"),
            PathBuf::from("/work/ws/x")
        ]
    );
    assert_eq!(p.write, vec![PathBuf::from("/work/ws")]);
}

#[test]
fn extends_cycles_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), "extends = \"./b.toml\"\n").unwrap();
    std::fs::write(dir.path().join("b.toml"), "extends = \"./a.toml\"\n").unwrap();
    let err = resolve::chain(dir.path().join("a.toml").to_str().unwrap()).unwrap_err();
    assert!(matches!(err, PolicyError::Cycle { .. }), "{err}");
    assert!(err.to_string().contains("cycle"));
}

#[test]
fn extends_chains_apply_base_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "extends = \"strict\"\n[limits]\nprocesses = 10\n",
    )
    .unwrap();
    let p = load(dir.path().join("mine.toml").to_str().unwrap(), &ctx()).unwrap();
    assert_eq!(p.chain.len(), 3);
    assert_eq!(p.limits.processes, Some(10));
    assert_eq!(p.limits.memory, Some(units::ByteSize(1 << 30)));
}

#[test]
fn missing_profiles_say_where_they_looked() {
    let err = load("no-such-profile", &ctx()).unwrap_err().to_string();
    assert!(
        err.contains("not found") && err.contains("sandbox-profiles"),
        "{err}"
    );
}
