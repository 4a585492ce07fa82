//! Profile loading: shipped profiles, merging, placeholders and error locations.

use std::path::{Path, PathBuf};

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
    let err = load_text("[network]\nmode = \"proxy\"\nallow = [\"ok.example\", \"*.com\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:3") && err.contains("network.allow") && err.contains("too broad"),
        "{err}"
    );
    let err = load_text("[network]\nmode = \"host\"\nallow = [\"crates.io\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("network.allow") && err.contains("needs mode = \"proxy\""),
        "{err}"
    );
    for (text, key) in [
        ("allow_cidrs = [\"0.0.0.0/0\"]", "network.allow_cidrs"),
        ("allow_cidrs = [\"10.0.0.300\"]", "network.allow_cidrs"),
        ("hosts = { \"a.test\" = \"nope\" }", "network.hosts"),
        ("hosts = { \"1.2.3.4\" = \"1.2.3.4\" }", "network.hosts"),
        ("fetch_max_size = 0", "network.fetch_max_size"),
    ] {
        let err = load_text(&format!("[network]\nmode = \"proxy\"\n{text}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key) && err.contains("t.toml:3"),
            "{text}: {err}"
        );
    }
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
fn proxy_profiles_load_their_egress_rules() {
    let p = load_text(
        "[network]\nmode = \"proxy\"\nallow = [\"Crates.io\", \"*.pythonhosted.org:443\", \"github.com:*\"]\nallow_cidrs = [\"10.1.2.3\", \"10.9.0.0/16\"]\nhosts = { \"Registry.Test\" = \"10.1.2.3\" }\nfetch_max_size = \"1MiB\"\n",
    )
    .unwrap();
    let allow: Vec<String> = p.allow.iter().map(ToString::to_string).collect();
    assert_eq!(
        allow,
        ["crates.io", "*.pythonhosted.org:443", "github.com:*"]
    );
    let cidrs: Vec<String> = p.allow_cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(cidrs, ["10.1.2.3/32", "10.9.0.0/16"]);
    assert_eq!(
        p.hosts.get("registry.test"),
        Some(&vec!["10.1.2.3".parse().unwrap()])
    );
    assert_eq!(p.fetch_max_size.map(|s| s.0), Some(1 << 20));
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

#[test]
fn sections_given_as_arrays_are_refused() {
    for text in [
        "kernel = [\"best-effort\"]\n",
        "limits = [1, 2, 3, 4, 5, 6, 7]\n",
    ] {
        let err = load_text(text).unwrap_err().to_string();
        assert!(
            err.contains("t.toml:1:") && err.contains("expected a table"),
            "{text}: {err}"
        );
    }
}

#[test]
fn zero_time_and_file_size_limits_are_refused() {
    for (text, key, expected) in [
        (
            "wall_time = 0",
            "limits.wall_time",
            "a duration greater than zero",
        ),
        (
            "wall_time = \"0s\"",
            "limits.wall_time",
            "a duration greater than zero",
        ),
        (
            "wall_time = \"0ms\"",
            "limits.wall_time",
            "a duration greater than zero",
        ),
        (
            "cpu_time = 0",
            "limits.cpu_time",
            "a duration greater than zero",
        ),
        (
            "file_size = 0",
            "limits.file_size",
            "a size greater than zero",
        ),
    ] {
        let err = load_text(&format!("[limits]\n{text}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml:2:") && err.contains(key) && err.contains(expected),
            "{text}: {err}"
        );
    }
    let p = load_text("[limits]\nwall_time = \"1ms\"\ncpu_time = 1\nfile_size = 1\n").unwrap();
    assert_eq!(p.limits.wall_time, Some(units::Duration(1)));
}

#[test]
fn nul_bytes_are_refused_and_escaped() {
    for (text, key, needle) in [
        (
            "[env]\nset = { A = \"x\\u0000\" }\n",
            "env.set",
            "the value of `A` contains a NUL byte",
        ),
        ("[env.set]\n\"A\\u0000\" = \"x\"\n", "env.set", "`A\\0`"),
        ("[env]\npass = [\"A\\u0000\"]\n", "env.pass", "`A\\0`"),
        (
            "[filesystem]\nread = [\"/etc\\u0000\"]\n",
            "filesystem.read",
            "`/etc\\0` contains a NUL byte",
        ),
        (
            "[filesystem]\nmask = [\"/root\\u0000\"]\n",
            "filesystem.mask",
            "`/root\\0` contains a NUL byte",
        ),
    ] {
        let err = load_text(text).unwrap_err().to_string();
        assert!(
            err.contains("t.toml:2:") && err.contains(key) && err.contains(needle),
            "{text}: {err}"
        );
        assert!(!err.contains('\0'), "{text}: raw NUL in {err:?}");
    }
}

#[test]
fn env_names_must_be_names_or_globs_over_names() {
    let good = [
        "PATH",
        "http_proxy",
        "_X",
        "LC_*",
        "*",
        "?ERM",
        "[A-Z]*_HOME",
        "X[!a]",
        "X[^a]",
    ];
    let text = format!("[env]\npass = {good:?}\n");
    let p = load_text(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.env_pass.len(), good.len());
    for bad in [
        "FOO BAR", " ", "", "1X", "A-B", "A.B", "A=B", "LC_[", "[]", "X[.]", "{A,B}",
    ] {
        let err = load_text(&format!("[env]\npass = [{bad:?}]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("env.pass") && err.contains("is not a valid name"),
            "{bad:?}: {err}"
        );
    }
    for bad in ["FOO BAR", "1X", "LC_*", "A-B"] {
        let err = load_text(&format!("[env.set]\n{bad:?} = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml:2:1:") && err.contains("env.set"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn validation_errors_point_at_the_entry() {
    let err = load_text("[filesystem]\nwrite = [\n  \"{workspace}\",\n  \"rel\",\n]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("t.toml:4:3:"), "{err}");
    let err = load_text("[limits]\n\"open_files\" = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:2:16:") && err.contains("limits.open_files"),
        "{err}"
    );
}

#[test]
fn extends_errors_name_the_extending_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("child.toml");
    for (extends, needle) in [
        ("\"no-such-profile-xyz\"", "not found"),
        ("\"./missing.toml\"", "cannot read profile"),
        ("\"bad name!\"", "is not a profile name"),
        ("\"\"", "empty profile reference"),
        ("[\n  \"strict\",\n  \"./\",\n]", "cannot read profile"),
    ] {
        std::fs::write(&child, format!("# a comment\nextends = {extends}\n")).unwrap();
        let err = resolve::chain(child.to_str().unwrap())
            .unwrap_err()
            .to_string();
        let line = if extends.starts_with('[') { 4 } else { 2 };
        let at = format!("{}:{line}:", child.display());
        assert!(
            err.contains(&at) && err.contains("key `extends`") && err.contains(needle),
            "{extends}: {err}"
        );
        assert!(!err.contains("invalid invocation"), "{err}");
    }
}

#[test]
fn extends_paths_are_compared_canonicalised() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    // A cycle through `sub/..` is a cycle, not a chain too deep.
    std::fs::write(dir.path().join("a.toml"), "extends = \"sub/b.toml\"\n").unwrap();
    std::fs::write(sub.join("b.toml"), "extends = \"../a.toml\"\n").unwrap();
    let err = resolve::chain(dir.path().join("a.toml").to_str().unwrap()).unwrap_err();
    assert!(matches!(err, PolicyError::Cycle { .. }), "{err}");

    // A diamond whose shared base is spelt two ways is applied once.
    std::fs::write(
        dir.path().join("base.toml"),
        "[filesystem]\nread = [\"/etc/hosts\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("left.toml"), "extends = \"base.toml\"\n").unwrap();
    std::fs::write(sub.join("right.toml"), "extends = \"../base.toml\"\n").unwrap();
    std::fs::write(
        dir.path().join("top.toml"),
        "extends = [\"left.toml\", \"sub/right.toml\", \"./sub/../base.toml\"]\n",
    )
    .unwrap();
    let files = resolve::chain(dir.path().join("top.toml").to_str().unwrap()).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["base", "left", "right", "top"]);
}

#[test]
fn optional_marker_is_stripped_and_recorded() {
    let p = load_text(
        "[filesystem]\nread = [\"?{home}/.cargo\", \"/etc/hosts\"]\nexec = [\"?/opt\"]\n",
    )
    .unwrap();
    assert_eq!(
        p.read,
        vec![PathBuf::from("/home/u/.cargo"), PathBuf::from("/etc/hosts")]
    );
    assert_eq!(
        p.optional,
        vec![PathBuf::from("/home/u/.cargo"), PathBuf::from("/opt")]
    );
    let origin = p
        .grant_origins
        .iter()
        .find(|o| o.path == std::path::Path::new("/home/u/.cargo"))
        .unwrap();
    assert_eq!(origin.written, "{home}/.cargo");
    assert_eq!(origin.at.line, Some(2));
    assert_eq!(origin.at.key.as_deref(), Some("filesystem.read"));
}

#[test]
fn a_plain_mention_anywhere_makes_a_grant_required() {
    for text in [
        "[filesystem]\nread = [\"?/opt\"]\nexec = [\"/opt\"]\n",
        "[filesystem]\nread = [\"/opt\"]\nexec = [\"?/opt\"]\n",
    ] {
        let p = load_text(text).unwrap();
        assert!(p.optional.is_empty(), "{text}");
    }
}

#[test]
fn optional_marker_misuse_is_an_error_naming_the_entry() {
    for (text, needle) in [
        ("mask = [\"?/x\"]", "applies to grants only"),
        ("read = [\"??/x\"]", "written once"),
        ("read = [\"?\"]", "written once"),
        ("write = [\"? /x\"]", "without a space"),
        ("exec = [\"?relative\"]", "not absolute"),
        ("read = [\"?{nope}/x\"]", "unknown placeholder"),
    ] {
        let err = load_text(&format!("[filesystem]\n{text}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml:2:") && err.contains("key `filesystem.") && err.contains(needle),
            "{text}: {err}"
        );
    }
}

#[test]
fn env_default_and_path_load_and_validate() {
    let p = load_text(
        "[env]\ndefault = { CARGO_HOME = \"{home}/.cargo\" }\npath = [\"{home}/.cargo/bin\"]\n",
    )
    .unwrap();
    assert_eq!(
        p.env_default.get("CARGO_HOME").map(String::as_str),
        Some("/home/u/.cargo")
    );
    assert_eq!(p.env_path, vec![PathBuf::from("/home/u/.cargo/bin")]);
    for (text, needle) in [
        ("default = { \"A-B\" = \"x\" }", "env.default"),
        ("path = [\"rel/bin\"]", "not absolute"),
        ("path = [\"/a:/b\"]", "split PATH"),
        ("defaults = { A = \"x\" }", "unknown field"),
    ] {
        let err = load_text(&format!("[env]\n{text}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml:2:") && err.contains(needle),
            "{text}: {err}"
        );
    }
}

#[test]
fn dev_marks_every_home_grant_optional() {
    let dev = load("dev", &ctx()).unwrap();
    for path in dev.read.iter().chain(&dev.exec).chain(&dev.write) {
        if path.starts_with("/home/u") {
            assert!(dev.optional.contains(path), "{}", path.display());
        }
    }
    assert!(dev.env_default.contains_key("CARGO_HOME"));
}

#[test]
fn text_with_in_memory_parents_loads_like_a_file() {
    // `load_text` (used by the fuzz targets) follows `extends` through the finder it is given.
    let parent = "extends = \"strict\"\n[limits]\nprocesses = 7\n";
    let find = |reference: &str, _: Option<&std::path::Path>| match reference {
        "mem-parent" => resolve::parse(
            "mem-parent",
            "<mem>/mem-parent.toml",
            None,
            parent.to_string(),
        ),
        other => resolve::find(other, None),
    };
    let text = "extends = \"mem-parent\"\n[limits]\nopen_files = 9\n";
    let p = super::load_text("<input>/child.toml", text.into(), &find, &ctx()).unwrap();
    assert_eq!(p.name, "child");
    assert_eq!(p.limits.processes, Some(7));
    assert_eq!(p.limits.open_files, Some(9));
    assert_eq!(p.chain.len(), 4);
    assert_eq!(
        p.chain.last().map(String::as_str),
        Some("<input>/child.toml")
    );
    let err = super::load_text(
        "<input>/c.toml",
        "extends = \"c\"\n".into(),
        &|_, _| resolve::parse("c", "<input>/c.toml", None, "extends = \"c\"\n".into()),
        &ctx(),
    )
    .unwrap_err();
    assert!(matches!(err, PolicyError::Cycle { .. }), "{err}");
}

/// Found by the `profile_parser` fuzz target (fuzz/regressions/profile_parser/): a non-ASCII
/// `allow` entry or `hosts` name whose last label has a multi-byte character across byte 2
/// (`bücher`) panicked in the name check instead of being refused with a located error.
#[test]
fn non_ascii_host_names_are_refused_not_a_panic() {
    for (text, at) in [
        (
            "[network]\nmode = \"proxy\"\nallow = [\"bücher\"]\n",
            "t.toml:3:10: key `network.allow`",
        ),
        (
            "[network]\nmode = \"proxy\"\nallow = [\"\u{fffd}\u{fffd}\u{fffd}\u{fffd}g\"]\n",
            "t.toml:3:10: key `network.allow`",
        ),
        (
            "[network]\nmode = \"proxy\"\nallow = [\"ok.example\"]\nhosts = { \"intranet.bücher\" = \"10.1.2.3\" }\n",
            "t.toml:4:11: key `network.hosts`",
        ),
    ] {
        let err = load_text(text).unwrap_err().to_string();
        assert!(err.contains(at), "{err}");
    }
}

#[test]
fn byte_path_checks_agree_with_path_components_for_normalized_paths() {
    use super::model::{same_path, within};
    let paths = ["/", "/a", "/ab", "/a/b", "/a/bc", "/a/b/c", "/b", "/tmp"];
    for p in paths {
        for d in paths {
            let (p, d) = (Path::new(p), Path::new(d));
            assert_eq!(within(p, d), p.starts_with(d), "{p:?} within {d:?}");
            assert_eq!(same_path(p, d), p == d, "{p:?} == {d:?}");
        }
    }
}

#[test]
fn workspace_mode_and_on_exit_keys_load_and_bad_values_name_the_key() {
    use crate::changes::{OnExit, WorkspaceMode};
    let p = load_text("[filesystem]\nworkspace_mode = \"overlay\"\non_exit = \"apply\"\n").unwrap();
    assert_eq!(p.workspace_mode, Some(WorkspaceMode::Overlay));
    assert_eq!(p.on_exit, Some(OnExit::Apply));
    let err = load_text("[filesystem]\non_exit = \"later\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("filesystem.on_exit") && err.contains("t.toml:2"),
        "{err}"
    );
}
