//! Unit tests of layer reading and apply, on layers built by hand (including malicious ones).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::apply::{Protected, apply};
use super::layer::{self, Change, Kind};

fn protected() -> Protected {
    // The defaults compile (else `defaults()` would protect everything and these tests fail).
    Protected::new(super::DEFAULT_PROTECTED).unwrap();
    Protected::defaults()
}

fn whiteout(path: &Path) -> bool {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .is_ok()
}

#[test]
fn applies_edits_additions_deletions_modes_and_symlinks() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up) = (t.path().join("ws"), t.path().join("up"));
    fs::create_dir_all(ws.join("src")).unwrap();
    fs::create_dir_all(ws.join("old")).unwrap();
    fs::write(ws.join("src/a.txt"), "one\n").unwrap();
    fs::write(ws.join("old/x"), "x").unwrap();
    fs::write(ws.join("gone"), "bye").unwrap();
    fs::create_dir_all(up.join("src")).unwrap();
    fs::write(up.join("src/a.txt"), "two\n").unwrap();
    fs::write(up.join("src/run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(up.join("src/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("a.txt", up.join("src/link")).unwrap();
    let can_whiteout = whiteout(&up.join("gone")) && whiteout(&up.join("old"));
    let changes = layer::read(&up).unwrap();
    let report = apply(&up, &ws, &changes, &protected(), None).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(fs::read_to_string(ws.join("src/a.txt")).unwrap(), "two\n");
    let mode = fs::metadata(ws.join("src/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        fs::read_link(ws.join("src/link")).unwrap(),
        Path::new("a.txt")
    );
    if can_whiteout {
        assert!(!ws.join("gone").exists());
        assert!(!ws.join("old").exists());
    } else {
        eprintln!("SKIP whiteouts: cannot mknod a 0:0 character device here");
    }
    // No temporary file left behind.
    let leftovers: Vec<_> = fs::read_dir(ws.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".missy-apply"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_symlink_in_the_workspace_never_carries_a_write_outside() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up, outside) = (
        t.path().join("ws"),
        t.path().join("up"),
        t.path().join("outside"),
    );
    fs::create_dir_all(&ws).unwrap();
    fs::create_dir_all(&outside).unwrap();
    // The workspace already holds a symlink out (planted by an earlier apply, say).
    symlink(&outside, ws.join("evil")).unwrap();
    // A hand-made change list that writes "through" it, as a malicious layer would.
    fs::create_dir_all(up.join("evil")).unwrap();
    fs::write(up.join("evil/pwned"), "x").unwrap();
    let through = vec![Change {
        rel: PathBuf::from("evil/pwned"),
        kind: Kind::File {
            mode: 0o644,
            size: 1,
        },
    }];
    let report = apply(&up, &ws, &through, &protected(), None).unwrap();
    assert!(
        !outside.join("pwned").exists(),
        "wrote outside the workspace"
    );
    assert_eq!(report.failed.len(), 1, "{report:?}");
    // The same layer read properly: the directory replaces the symlink, inside the workspace.
    let changes = layer::read(&up).unwrap();
    apply(&up, &ws, &changes, &protected(), None).unwrap();
    assert!(
        !outside.join("pwned").exists(),
        "wrote outside the workspace"
    );
    assert!(ws.join("evil").is_dir() && !ws.join("evil").is_symlink());
    assert!(ws.join("evil/pwned").is_file());
}

#[test]
fn a_layer_symlink_plus_a_file_below_it_stays_inside() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up, outside) = (
        t.path().join("ws"),
        t.path().join("up"),
        t.path().join("outside"),
    );
    fs::create_dir_all(&ws).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(&up).unwrap();
    symlink(&outside, up.join("link")).unwrap();
    let mut changes = layer::read(&up).unwrap();
    changes.push(Change {
        rel: PathBuf::from("link/file"),
        kind: Kind::File {
            mode: 0o644,
            size: 0,
        },
    });
    fs::create_dir_all(up.join("x")).unwrap();
    let report = apply(&up, &ws, &changes, &protected(), None).unwrap();
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside"
    );
    assert_eq!(fs::read_link(ws.join("link")).unwrap(), outside);
    assert_eq!(report.failed.len(), 1, "{report:?}");
}

#[test]
fn protected_and_privileged_entries_are_reported_not_applied() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up) = (t.path().join("ws"), t.path().join("up"));
    fs::create_dir_all(ws.join(".git/hooks")).unwrap();
    fs::create_dir_all(up.join(".git/hooks")).unwrap();
    fs::write(up.join(".git/hooks/pre-commit"), "#!/bin/sh\n").unwrap();
    fs::write(up.join(".envrc"), "x").unwrap();
    fs::write(up.join("suid"), "x").unwrap();
    fs::set_permissions(up.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    let changes = layer::read(&up).unwrap();
    let report = apply(&up, &ws, &changes, &protected(), None).unwrap();
    assert!(!ws.join(".git/hooks/pre-commit").exists());
    assert!(!ws.join(".envrc").exists());
    assert!(!ws.join("suid").exists());
    assert!(report.protected.contains(&PathBuf::from(".git/hooks")));
    assert!(report.protected.contains(&PathBuf::from(".envrc")));
    assert_eq!(report.refused.len(), 1, "{report:?}");
}

#[test]
fn a_path_changed_since_the_run_is_a_conflict() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up) = (t.path().join("ws"), t.path().join("up"));
    fs::create_dir_all(&ws).unwrap();
    fs::create_dir_all(&up).unwrap();
    fs::write(ws.join("a"), "base").unwrap();
    fs::write(ws.join("b"), "base").unwrap();
    fs::write(up.join("a"), "mine").unwrap();
    fs::write(up.join("b"), "mine").unwrap();
    let changes = layer::read(&up).unwrap();
    let dir = fs::File::open(&ws).unwrap();
    let bases: BTreeMap<_, _> = changes
        .iter()
        .map(|c| {
            (
                c.rel.clone(),
                super::base::of(std::os::fd::AsFd::as_fd(&dir), &c.rel),
            )
        })
        .collect();
    fs::write(ws.join("a"), "edited by the user meanwhile").unwrap();
    let report = apply(&up, &ws, &changes, &protected(), Some(&bases)).unwrap();
    assert_eq!(report.conflicts.len(), 1, "{report:?}");
    assert_eq!(
        fs::read_to_string(ws.join("a")).unwrap(),
        "edited by the user meanwhile"
    );
    assert_eq!(fs::read_to_string(ws.join("b")).unwrap(), "mine");
}

#[test]
fn opaque_directory_replaces_old_content() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up) = (t.path().join("ws"), t.path().join("up"));
    fs::create_dir_all(ws.join("d")).unwrap();
    fs::write(ws.join("d/old"), "x").unwrap();
    fs::create_dir_all(up.join("d")).unwrap();
    fs::write(up.join("d/new"), "y").unwrap();
    let mut changes = layer::read(&up).unwrap();
    if let Kind::Dir { opaque, .. } = &mut changes[0].kind {
        *opaque = true;
    }
    apply(&up, &ws, &changes, &protected(), None).unwrap();
    assert!(!ws.join("d/old").exists());
    assert!(ws.join("d/new").exists());
}

#[test]
fn show_never_reads_through_a_workspace_symlink() {
    let t = tempfile::tempdir().unwrap();
    let (ws, up, outside) = (
        t.path().join("ws"),
        t.path().join("up"),
        t.path().join("outside"),
    );
    fs::create_dir_all(&ws).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "TOPSECRET\n").unwrap();
    symlink(&outside, ws.join("link")).unwrap();
    fs::create_dir_all(up.join("link")).unwrap();
    fs::write(up.join("link/secret"), "mine\n").unwrap();
    fs::write(up.join("bin"), b"a\0b").unwrap();
    let changes = layer::read(&up).unwrap();
    let shown = super::diff::render(&changes, &ws, &up).unwrap();
    assert!(!shown.contains("TOPSECRET"), "{shown}");
    assert!(
        shown.contains("+mine") && shown.contains("binary bin: absent -> 3 bytes"),
        "{shown}"
    );
}
