//! `exec --workspace-mode overlay` and `changes`: discard leaves the workspace byte-identical,
//! apply gives exactly what the same script gives unsandboxed, and a change set cannot write
//! outside the workspace through a symlink it made.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Output, Stdio};

use sha2::{Digest, Sha256};

use crate::harness::*;

/// Deletes, edits, renames a directory, changes a mode, adds a symlink and a nested directory.
const SCRIPT: &str = "set -e; echo changed >> a.txt; rm del.txt; mv dir renamed; \
chmod 755 script.sh; ln -s a.txt link; mkdir -p new/deep; echo n > new/deep/f; rm -r gone; \
printf 'x\\000y' > bin.dat; \
rm -r swap; mkdir swap; echo fresh > swap/n";

/// Every entry below `dir`: type, mode, content hash or link target (owners and times aside).
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.mode() & 0o7777;
            let what = if meta.is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                format!("dir {mode:o}")
            } else {
                let hash: String = Sha256::digest(std::fs::read(&path).unwrap())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("file {mode:o} {hash}")
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn populate(ws: &Scratch, user: User) {
    ws.file("a.txt", "one\n", user);
    ws.file("del.txt", "bye\n", user);
    ws.file("script.sh", "#!/bin/sh\n", user);
    for d in ["dir", "gone", "swap"] {
        std::fs::create_dir(ws.path().join(d)).unwrap();
        chown(&ws.path().join(d), user);
    }
    ws.file("dir/x", "x\n", user);
    ws.file("gone/y", "y\n", user);
    ws.file("swap/old", "old\n", user);
}

fn store(user: User) -> Scratch {
    let s = Scratch::new(user);
    std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    s
}

fn overlay_run(user: User, ws: &Scratch, store: &Scratch, on_exit: &str, script: &str) -> Output {
    exec_command(
        user,
        ws,
        "strict",
        &["--workspace-mode", "overlay", "--on-exit", on_exit, "--"],
    )
    .args(["sh", "-c", script])
    .env("MISSY_SANDBOX_CHANGES", store.path())
    .stdin(Stdio::null())
    .output()
    .unwrap()
}

fn changes(user: User, store: &Scratch, args: &[&str]) -> Output {
    user.command(&sandbox_bin())
        .arg("changes")
        .args(args)
        .env("MISSY_SANDBOX_CHANGES", store.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn bare(user: User, ws: &Scratch, script: &str) {
    let out = user
        .command(Path::new("/bin/sh"))
        .args(["-c", script])
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "bare run as {user:?}: {out:?}");
}

fn ok(what: &str, out: &Output) {
    assert!(out.status.success(), "{what}: {out:?}");
}

fn set_count(store: &Scratch) -> usize {
    std::fs::read_dir(store.path()).unwrap().count()
}

#[test]
fn discard_leaves_the_workspace_byte_identical() {
    for user in USERS {
        let (ws, st) = (Scratch::new(user), store(user));
        populate(&ws, user);
        let before = tree(ws.path());
        let out = overlay_run(user, &ws, &st, "discard", SCRIPT);
        ok("sandboxed run", &out);
        assert_eq!(
            tree(ws.path()),
            before,
            "as {user:?}: the workspace changed"
        );
        assert_eq!(
            set_count(&st),
            0,
            "as {user:?}: the change set was not removed"
        );
        // The control: the same script unsandboxed does change the tree.
        bare(user, &ws, SCRIPT);
        assert_ne!(tree(ws.path()), before);
    }
}

#[test]
fn apply_gives_exactly_the_unsandboxed_result() {
    for user in USERS {
        let (ws, control, st) = (Scratch::new(user), Scratch::new(user), store(user));
        populate(&ws, user);
        populate(&control, user);
        let out = overlay_run(user, &ws, &st, "apply", SCRIPT);
        ok("sandboxed run", &out);
        bare(user, &control, SCRIPT);
        assert_eq!(tree(ws.path()), tree(control.path()), "as {user:?}");
        assert_eq!(
            set_count(&st),
            0,
            "as {user:?}: the change set was not removed"
        );
    }
}

#[test]
fn a_kept_change_set_is_listed_shown_and_applied_later() {
    for user in USERS {
        let (ws, control, st) = (Scratch::new(user), Scratch::new(user), store(user));
        populate(&ws, user);
        populate(&control, user);
        let before = tree(ws.path());
        let script = format!("{SCRIPT}; mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit");
        ok(
            "sandboxed run",
            &overlay_run(user, &ws, &st, "keep", &script),
        );
        assert_eq!(
            tree(ws.path()),
            before,
            "as {user:?}: keep must not touch the workspace"
        );
        let list = changes(user, &st, &["list"]);
        ok("changes list", &list);
        let list = String::from_utf8_lossy(&list.stdout).to_string();
        let id = list
            .split_whitespace()
            .next()
            .expect("one change set listed")
            .to_string();
        let show = changes(user, &st, &["show", &id]);
        ok("changes show", &show);
        let diff = String::from_utf8_lossy(&show.stdout).to_string();
        for expected in [
            "+changed",
            "deleted del.txt",
            "symlink link -> a.txt",
            "binary bin.dat",
        ] {
            assert!(
                diff.contains(expected),
                "as {user:?}: `{expected}` missing from:\n{diff}"
            );
        }
        let applied = changes(user, &st, &["apply", &id]);
        ok("changes apply", &applied);
        assert!(String::from_utf8_lossy(&applied.stderr).contains("protected path"));
        assert!(
            !ws.path().join(".git/hooks/pre-commit").exists(),
            "a hook was applied"
        );
        bare(user, &control, SCRIPT);
        let mut got = tree(ws.path());
        got.retain(|k, _| !k.starts_with(".git"));
        assert_eq!(got, tree(control.path()), "as {user:?}");
        assert_eq!(set_count(&st), 0);
        let unknown = changes(user, &st, &["apply", &id]);
        assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    }
}

#[test]
fn a_change_set_cannot_write_outside_through_its_symlink() {
    for user in USERS {
        let (ws, outside, st) = (Scratch::new(user), Scratch::new(user), store(user));
        let target = outside.path().join("pwned");
        let script = format!(
            "ln -s {} evil; echo x > evil/pwned; mkdir -p d; echo y > d/f; true",
            outside.path().display()
        );
        ok(
            "sandboxed run",
            &overlay_run(user, &ws, &st, "keep", &script),
        );
        let id = String::from_utf8_lossy(&changes(user, &st, &["list"]).stdout)
            .split_whitespace()
            .next()
            .expect("one change set")
            .to_string();
        ok("changes apply", &changes(user, &st, &["apply", &id]));
        assert!(
            !target.exists(),
            "as {user:?}: the apply wrote outside the workspace"
        );
        assert!(ws.path().join("evil").is_symlink() && ws.path().join("d/f").is_file());
        // The control: the same script unsandboxed writes outside.
        let control = Scratch::new(user);
        bare(user, &control, &script);
        assert!(
            target.exists(),
            "as {user:?}: the control run did not write outside"
        );
    }
}

#[test]
fn overlay_mode_refuses_a_workspace_the_profile_does_not_grant_writable() {
    for user in USERS {
        let (ws, st, profiles) = (Scratch::new(user), store(user), Scratch::new(user));
        let profile = profiles.file(
            "ro.toml",
            "extends = \"base\"\n[filesystem]\nread = [\"{workspace}\"]\n",
            user,
        );
        let out = exec_command(
            user,
            &ws,
            profile.to_str().unwrap(),
            &["--workspace-mode", "overlay", "--"],
        )
        .args(["sh", "-c", "true"])
        .env("MISSY_SANDBOX_CHANGES", st.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(125), "as {user:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("overlay mode needs the workspace"));
        assert_eq!(
            set_count(&st),
            0,
            "as {user:?}: a refused run left a change set"
        );
        // The control: the same profile runs in direct mode.
        let direct = exec_command(user, &ws, profile.to_str().unwrap(), &["--"])
            .args(["sh", "-c", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        ok("direct run", &direct);
    }
}

#[test]
fn a_path_edited_after_the_run_is_a_conflict_left_as_the_user_made_it() {
    for user in USERS {
        let (ws, st) = (Scratch::new(user), store(user));
        populate(&ws, user);
        ok(
            "sandboxed run",
            &overlay_run(
                user,
                &ws,
                &st,
                "keep",
                "echo sandbox > a.txt; echo new > b.txt",
            ),
        );
        ws.file("a.txt", "edited by the user\n", user);
        let id = String::from_utf8_lossy(&changes(user, &st, &["list"]).stdout)
            .split_whitespace()
            .next()
            .expect("one change set")
            .to_string();
        let applied = changes(user, &st, &["apply", &id]);
        ok("changes apply", &applied);
        let stderr = String::from_utf8_lossy(&applied.stderr);
        assert!(
            stderr.contains("conflict") && stderr.contains("a.txt"),
            "{stderr}"
        );
        let a = std::fs::read_to_string(ws.path().join("a.txt")).unwrap();
        assert_eq!(a, "edited by the user\n", "as {user:?}");
        assert_eq!(
            std::fs::read_to_string(ws.path().join("b.txt")).unwrap(),
            "new\n"
        );
    }
}

/// Under `dev` the repository is a writable bind of its own (protected paths inside it): in
/// overlay mode its writes must go through the change set too.
#[test]
fn a_git_commit_under_dev_goes_through_the_overlay() {
    const COMMIT: &str =
        "git add a.txt && git -c user.email=t@t -c user.name=t commit -qm sandboxed";
    for user in USERS {
        let (ws, st) = (Scratch::new(user), store(user));
        populate(&ws, user);
        bare(user, &ws, "git init -q .");
        let before = tree(ws.path());
        let run = |on_exit: &str| {
            exec_command(
                user,
                &ws,
                "dev",
                &["--workspace-mode", "overlay", "--on-exit", on_exit, "--"],
            )
            .args(["sh", "-c", COMMIT])
            .env("MISSY_SANDBOX_CHANGES", st.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
        };
        ok("commit, discarded", &run("discard"));
        assert_eq!(
            tree(ws.path()),
            before,
            "as {user:?}: the discarded commit reached .git"
        );
        ok("commit, applied", &run("apply"));
        let log = user
            .command(Path::new("/usr/bin/git"))
            .args(["log", "--format=%s"])
            .current_dir(ws.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&log.stdout).trim(),
            "sandboxed",
            "as {user:?}: {log:?}"
        );
    }
}
