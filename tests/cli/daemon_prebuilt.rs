//! `serve`'s sandboxes built ahead (a spare's pid 1 gets its Plan, builds the root and has its
//! cgroups before the request): a run that takes one is confined as any other (a read outside
//! the workspace is denied, protected paths are masked); one built for workspace A never serves
//! workspace B; one whose profile was edited, or whose workspace changed under the paths its
//! Plan was built from, is discarded. And the early answer: the client hears a run's end only
//! when nothing of its sandbox lives any more, and after its closing audit record. As root and
//! as uid 65534.
//!
//! Which runs took a sandbox built ahead is read from the per-run supervisor's debug line
//! (`MISSY_LOG=debug`: the supervisor's log goes to the run's stderr).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use missy_agent::client::{Client, ExecRequest, Finished};

use crate::daemon::{Daemon, processes_with};
use crate::harness::{Scratch, USERS, User, sandbox_bin};

/// The debug line of a run that took a sandbox built ahead.
const AHEAD: &str = "prestarted pid 1 taken built_ahead=true";

fn run(client: &mut Client, id: &str, profile: &str, script: &str, ws: &Path) -> Finished {
    client
        .run(&ExecRequest::new(
            id,
            profile,
            ["sh", "-c", script],
            ws.to_str().unwrap(),
        ))
        .unwrap()
}

fn stderr(done: &Finished) -> String {
    String::from_utf8_lossy(&done.stderr).into_owned()
}

fn ahead(done: &Finished) -> bool {
    stderr(done).contains(AHEAD)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A workspace of the client (root), writable by either daemon's runs.
fn workspace() -> Scratch {
    let w = crate::daemon::workspace();
    std::fs::set_permissions(
        w.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    w
}

/// A daemon logging at debug level, with `profiles` (name, text) in its $XDG_CONFIG_HOME.
fn daemon(user: User, config: &Scratch, profiles: &[(&str, &str)]) -> Daemon {
    for (name, text) in profiles {
        write(
            &config
                .path()
                .join(format!("missy-sandbox/profiles/{name}.toml")),
            text,
        );
    }
    Daemon::start_with(user, &[], |c| {
        c.env("XDG_CONFIG_HOME", config.path())
            .env("MISSY_LOG", "debug");
    })
}

/// Runs `script` until one takes a sandbox built ahead (the first runs of a daemon cannot),
/// asserting `check` on every run.
fn until_ahead(
    client: &mut Client,
    profile: &str,
    script: &str,
    ws: &Path,
    check: impl Fn(&Finished),
) {
    for n in 0..8 {
        let done = run(client, &format!("u{n}"), profile, script, ws);
        check(&done);
        if ahead(&done) {
            return;
        }
    }
    panic!("no run took a sandbox built ahead");
}

#[test]
fn a_run_on_a_sandbox_built_ahead_is_confined_as_any() {
    for user in USERS {
        let config = Scratch::new(user);
        let d = daemon(user, &config, &[]);
        let w = workspace();
        let outside = Scratch::new(user);
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "s3cret").unwrap();
        // Readable without the sandbox, by the daemon's user.
        let bare = user
            .command(Path::new("/bin/cat"))
            .arg(&secret)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(bare.status.success(), "{user:?}: {bare:?}");
        let mut client = d.client();
        let script = format!(
            "echo made > {ws}/made; cat {s} && echo READ; ls /proc/1/root >/dev/null; exit 0",
            ws = w.path().display(),
            s = secret.display()
        );
        until_ahead(&mut client, "strict", &script, w.path(), |done| {
            let out = String::from_utf8_lossy(&done.stdout);
            assert_eq!(done.exit.status, 0, "{user:?}: {done:?}");
            assert!(!out.contains("READ"), "{user:?}: read outside: {done:?}");
            assert!(!out.contains("s3cret"), "{user:?}: {done:?}");
        });
        assert!(w.path().join("made").exists(), "{user:?}");
        // Each run built ahead is used once: a file left in /tmp is not seen by the next.
        for n in 0..3 {
            let done = run(
                &mut client,
                &format!("t{n}"),
                "strict",
                "ls -A /tmp; touch /tmp/left",
                w.path(),
            );
            assert!(
                !String::from_utf8_lossy(&done.stdout).contains("left"),
                "{user:?}: {done:?}"
            );
        }
    }
}

#[test]
fn a_sandbox_built_for_one_workspace_never_serves_another() {
    for user in USERS {
        let config = Scratch::new(user);
        let d = daemon(user, &config, &[]);
        let a = workspace();
        let b = workspace();
        std::fs::write(a.path().join("mark"), "in-a").unwrap();
        let mut client = d.client();
        let in_a = format!("cat {}/mark", a.path().display());
        until_ahead(&mut client, "strict", &in_a, a.path(), |done| {
            assert_eq!(done.exit.status, 0, "{user:?}: {done:?}");
        });
        // Every spare is built for A now.
        for n in 0..3 {
            let done = run(&mut client, &format!("a{n}"), "strict", &in_a, a.path());
            assert!(ahead(&done), "{user:?}: {done:?}");
        }
        // The spares are built for A now; a run in B gets a fresh sandbox with B's root.
        let script = format!(
            "echo b > {b}/made-in-b; cat {a}/mark && echo READ-A; exit 0",
            a = a.path().display(),
            b = b.path().display()
        );
        for n in 0..4 {
            let done = run(&mut client, &format!("b{n}"), "strict", &script, b.path());
            assert_eq!(done.exit.status, 0, "{user:?}: {done:?}");
            if n == 0 {
                assert!(!ahead(&done), "{user:?}: B ran on A's sandbox: {done:?}");
                // It took the spare kept without a key: its namespaces were ready.
                assert!(
                    stderr(&done).contains("prestarted pid 1 taken built_ahead=false"),
                    "{user:?}: {done:?}"
                );
            }
            let out = String::from_utf8_lossy(&done.stdout);
            assert!(!out.contains("READ-A"), "{user:?} run {n}: {done:?}");
            assert!(b.path().join("made-in-b").exists(), "{user:?} run {n}");
            assert!(!a.path().join("made-in-b").exists(), "{user:?} run {n}");
        }
        // And A, asked again, still sees A.
        let done = run(&mut client, "a-again", "strict", &in_a, a.path());
        assert_eq!(String::from_utf8_lossy(&done.stdout).trim(), "in-a");
    }
}

#[test]
fn an_edited_profile_discards_the_sandboxes_built_for_it() {
    for user in USERS {
        let config = Scratch::new(user);
        let shared = Scratch::new(user);
        let file = shared.path().join("f");
        std::fs::write(&file, "granted").unwrap();
        let granting = format!(
            "extends = \"strict\"\n[filesystem]\nread = [\"{}\"]\n",
            shared.path().display()
        );
        let d = daemon(user, &config, &[("mine", &granting)]);
        let w = workspace();
        let mut client = d.client();
        let script = format!("cat {} || echo DENIED", file.display());
        until_ahead(&mut client, "mine", &script, w.path(), |done| {
            assert_eq!(
                String::from_utf8_lossy(&done.stdout).trim(),
                "granted",
                "{user:?}: {done:?}"
            );
        });
        // The grant removed: the sandboxes built with it must not serve a run.
        write(
            &config.path().join("missy-sandbox/profiles/mine.toml"),
            "extends = \"strict\"\n",
        );
        for n in 0..4 {
            let done = run(&mut client, &format!("e{n}"), "mine", &script, w.path());
            assert_eq!(
                String::from_utf8_lossy(&done.stdout).trim(),
                "DENIED",
                "{user:?} run {n} after the edit: {done:?}"
            );
            if n == 0 {
                assert!(!ahead(&done), "{user:?}: stale sandbox served: {done:?}");
            }
        }
    }
}

#[test]
fn a_workspace_changed_under_a_built_plan_discards_it() {
    // Three times each: a spare built while the run that creates `.git` goes on must see it.
    for user in USERS.into_iter().flat_map(|u| [u; 3]) {
        let config = Scratch::new(user);
        let protecting =
            "extends = \"strict\"\n[filesystem]\nprotect = [\".git/hooks/\", \".envrc\"]\n";
        let d = daemon(user, &config, &[("mine", protecting)]);
        let w = workspace();
        // Present, so bound read-only (no placeholder): such Plans are built ahead.
        std::fs::write(w.path().join(".envrc"), "kept\n").unwrap();
        // Writable by either user without the sandbox.
        std::fs::set_permissions(
            w.path().join(".envrc"),
            std::os::unix::fs::PermissionsExt::from_mode(0o666),
        )
        .unwrap();
        let mut client = d.client();
        until_ahead(
            &mut client,
            "mine",
            "echo x >> .envrc && echo WROTE; exit 0",
            w.path(),
            |done| {
                assert!(
                    !String::from_utf8_lossy(&done.stdout).contains("WROTE"),
                    "{user:?}: {done:?}"
                );
            },
        );
        assert_eq!(
            std::fs::read_to_string(w.path().join(".envrc")).unwrap(),
            "kept\n"
        );
        // The spares were built while `.git` was absent, so `.git/hooks/` is not protected
        // in their Plans: a run that creates `.git` makes them stale.
        let made = run(&mut client, "git", "mine", "mkdir .git", w.path());
        assert_eq!(made.exit.status, 0, "{user:?}: {made:?}");
        let hook = "mkdir -p .git/hooks; echo x > .git/hooks/pre-commit && echo WROTE; exit 0";
        for n in 0..3 {
            let done = run(&mut client, &format!("h{n}"), "mine", hook, w.path());
            assert!(
                !String::from_utf8_lossy(&done.stdout).contains("WROTE"),
                "{user:?} run {n}: a hook was planted: {done:?}"
            );
            assert!(
                !ahead(&done),
                "{user:?} run {n}: stale Plan served: {done:?}"
            );
        }
        assert!(!w.path().join(".git/hooks/pre-commit").exists(), "{user:?}");
        // Without the sandbox the hook can be written (once the last run's placeholder is gone).
        let deadline = Instant::now() + Duration::from_secs(5);
        let bare = loop {
            let bare = user
                .command(Path::new("/bin/sh"))
                .args([
                    "-c",
                    "mkdir -p .git/hooks && echo x > .git/hooks/pre-commit",
                ])
                .current_dir(w.path())
                .output()
                .unwrap();
            if bare.status.success() || Instant::now() > deadline {
                break bare;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(bare.status.success(), "{user:?}: {bare:?}");
    }
}

#[test]
fn the_answer_comes_only_when_the_sandbox_is_gone_and_recorded() {
    for user in USERS {
        let dir = Scratch::new(user);
        let socket = dir.path().join("missy.sock");
        let log = dir.path().join("audit.jsonl");
        let mut cmd = user.command(&sandbox_bin());
        cmd.arg("--audit-log")
            .arg(&log)
            .args(["serve", "--socket"])
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if user == User::Nobody {
            cmd.args(["--allow-uid", "0"]);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        let w = workspace();
        let mut client = Client::connect(&socket).unwrap();
        for n in 0..8 {
            // A process left behind in the background, still running when the workload ends.
            let marker = crate::faults::sleep_token();
            let script = format!("sleep {marker} & echo started");
            let done = run(&mut client, &format!("r{n}"), "strict", &script, w.path());
            // Checked at once, with no grace: the answer means the sandbox is gone.
            let left = processes_with(&format!("sleep\0{marker}"));
            assert!(
                left.is_empty(),
                "{user:?} run {n}: alive after the answer: {left:?}"
            );
            assert_eq!(done.exit.status, 0, "{user:?}: {done:?}");
            // The next request follows at once; this run's closing record is there already.
            let ends = std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .filter(|l| l.contains("\"exec-end\""))
                .count();
            assert_eq!(ends, n + 1, "{user:?} run {n}: exec-end records");
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
