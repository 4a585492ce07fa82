//! Protected paths in the `dev` profile, git under it, and nothing privileged or stray left in
//! the workspace after a run. Each attempt also runs without the sandbox, where it must succeed.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{Scratch, USERS, User, sandbox_bin};

/// Every default protected entry of `dev`, with the attempt that writes or creates it.
const ATTEMPTS: &str = r#"
for p in .git/config .gitmodules .bashrc .bash_profile .bash_login .profile .zshrc .zprofile \
         .zshenv .envrc .mcp.json; do
  if (echo planted >> "$p") 2>/dev/null; then echo "WRITTEN $p"; else echo "DENIED $p"; fi
done
for d in .git/hooks .git/info .vscode .idea .claude .codex; do
  if (mkdir -p "$d" && echo planted > "$d/planted") 2>/dev/null; then echo "WRITTEN $d"; else echo "DENIED $d"; fi
done
if (rm -rf .git/hooks && mkdir .git/hooks) 2>/dev/null; then echo "WRITTEN hooks-replaced"; else echo "DENIED hooks-replaced"; fi
if (mv .git .git-moved) 2>/dev/null; then echo "WRITTEN git-moved"; else echo "DENIED git-moved"; fi
"#;

const ENTRIES: usize = 19;

fn run(user: User, program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = user.command(Path::new(program));
    c.args(args).current_dir(dir).envs(env.iter().copied());
    c.output().unwrap()
}

fn sh(user: User, dir: &Path, script: &str) -> Output {
    run(user, "/bin/sh", &["-c", script], dir, &GIT_ENV)
}

fn in_dev(user: User, ws: &Path, script: &str) -> Output {
    let mut c = user.command(&sandbox_bin());
    c.args(["exec", "--profile", "dev", "--workspace"])
        .arg(ws)
        .args(
            GIT_ENV
                .iter()
                .flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")]),
        )
        .args(["--", "/bin/sh", "-c", script])
        .current_dir(ws);
    c.output().unwrap()
}

const GIT_ENV: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "t"),
    ("GIT_AUTHOR_EMAIL", "t@example.invalid"),
    ("GIT_COMMITTER_NAME", "t"),
    ("GIT_COMMITTER_EMAIL", "t@example.invalid"),
];

/// Every path under `dir` with its mode and content hash: equal listings mean an equal tree.
fn tree(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . -printf '%p %M %s %l\\n' | sort; find . -type f -exec sha256sum {} + | sort")
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn git_repo(user: User, ws: &Path) {
    let out = sh(
        user,
        ws,
        "git init -q -b main . && echo one > one && git add one && git commit -qm one",
    );
    assert!(out.status.success(), "{out:?}");
}

fn lines_with<'a>(out: &'a Output, word: &str) -> Vec<&'a str> {
    std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(word))
        .collect()
}

#[test]
fn default_protected_paths_can_be_neither_modified_nor_created_under_dev() {
    for user in USERS {
        let ws = Scratch::new(user);
        git_repo(user, ws.path());
        // Some protected paths exist (modify), the others do not (create).
        let out = sh(user, ws.path(), "echo mine > .bashrc && mkdir .vscode");
        assert!(out.status.success(), "{out:?}");
        let control = Scratch::new(user);
        let out = sh(
            user,
            control.path(),
            &format!("cp -a {}/. . && {ATTEMPTS}", ws.path().display()),
        );
        assert_eq!(
            lines_with(&out, "WRITTEN").len(),
            ENTRIES,
            "as {user:?}, unsandboxed, every attempt must succeed: {out:?}"
        );
        let before = tree(ws.path());
        let out = in_dev(user, ws.path(), ATTEMPTS);
        assert!(out.status.success(), "as {user:?}: {out:?}");
        assert_eq!(
            lines_with(&out, "DENIED").len(),
            ENTRIES,
            "as {user:?}, every attempt must be denied in dev: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            before,
            tree(ws.path()),
            "as {user:?}: the workspace changed (a placeholder or a planted file was left)"
        );
    }
}

#[test]
fn a_git_session_with_branches_a_clone_and_a_worktree_works_under_dev() {
    let session = r#"set -e
echo a > a && git add a && git commit -qm a
git branch feature && git checkout -q feature
echo b > b && git add b && git commit -qm b
git checkout -q main && git merge -q --no-edit feature
git checkout -q -b topic && echo c > c && git add c && git commit -qm c
git rebase -q main
git tag v1
echo more >> a && git stash -q && git stash pop -q && git checkout -q -- a
git gc -q
git clone -q . "$TMPDIR/clone" && git -C "$TMPDIR/clone" log --oneline | grep -q c
git fetch -q "$TMPDIR/clone" topic
git worktree add -q -b wtb wtdir && (cd wtdir && echo w > w && git add w && git commit -qm w)
git status --short
echo SESSION-OK
"#;
    for user in USERS {
        let ws = Scratch::new(user);
        git_repo(user, ws.path());
        let out = in_dev(user, ws.path(), session);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("SESSION-OK"),
            "as {user:?}: {out:?}"
        );
        // The placeholders stayed out of git's view: nothing untracked but the worktree.
        let untracked: Vec<_> = stdout.lines().filter(|l| l.starts_with("??")).collect();
        assert_eq!(untracked, vec!["?? wtdir/"], "as {user:?}: {stdout}");
        let out = sh(user, ws.path(), "git log --oneline --all | wc -l; git tag");
        let host = String::from_utf8_lossy(&out.stdout);
        assert!(host.contains("v1"), "as {user:?}: {host}");
    }
}

#[test]
fn a_workspace_that_is_a_worktree_commits_into_its_repository_whose_hooks_stay_protected() {
    for user in USERS {
        let base = Scratch::new(user);
        let repo = base.path().join("repo");
        let wt = base.path().join("wt");
        std::fs::create_dir(&repo).unwrap();
        crate::harness::chown(&repo, user);
        git_repo(user, &repo);
        let out = sh(user, &repo, "git worktree add -q -b wt ../wt");
        assert!(out.status.success(), "{out:?}");
        let hook = repo.join(".git/hooks/pre-commit");
        let script = format!(
            "echo w > w && git add w && git commit -qm w && echo COMMITTED; \
             (echo evil > {hook}) 2>/dev/null && echo HOOK-PLANTED; \
             (echo 'gitdir: /tmp' > .git) 2>/dev/null && echo LINK-REWRITTEN; true",
            hook = hook.display()
        );
        let out = in_dev(user, &wt, &script);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("COMMITTED"), "as {user:?}: {out:?}");
        assert!(!stdout.contains("HOOK-PLANTED"), "as {user:?}: {stdout}");
        assert!(!stdout.contains("LINK-REWRITTEN"), "as {user:?}: {stdout}");
        assert!(!hook.exists());
        // The same plant works without the sandbox.
        let out = sh(user, &wt, &format!("echo evil > {}", hook.display()));
        assert!(out.status.success() && hook.exists(), "{out:?}");
    }
}

#[test]
fn runs_as_root_leave_nothing_privileged_in_the_workspace() {
    let user = User::Root;
    let has_setcap = Path::new("/usr/sbin/setcap").exists() || Path::new("/sbin/setcap").exists();
    let attempts = format!(
        "cp /bin/true suid && chmod u+s suid && echo PLANTED-suid; \
         cp /bin/true sgid && chmod g+s sgid && echo PLANTED-sgid; \
         mknod node c 1 3 && echo PLANTED-node; \
         {} true",
        if has_setcap {
            "cp /bin/true capped && setcap cap_net_raw+ep capped && echo PLANTED-caps;"
        } else {
            ""
        }
    );
    let expected = if has_setcap { 4 } else { 3 };
    if !has_setcap {
        eprintln!("SKIP part: setcap (libcap2-bin) is not installed; file capabilities untested");
    }
    let control = Scratch::new(user);
    let out = sh(user, control.path(), &attempts);
    assert_eq!(lines_with(&out, "PLANTED").len(), expected, "{out:?}");
    let ws = Scratch::new(user);
    let out = in_dev(user, ws.path(), &attempts);
    assert!(lines_with(&out, "PLANTED").is_empty(), "{out:?}");
    let scan = sh(
        user,
        ws.path(),
        "find . -perm /6000 -o -type c -o -type b; getcap -r . 2>/dev/null; true",
    );
    assert_eq!(
        String::from_utf8_lossy(&scan.stdout).trim(),
        "",
        "privileged files left in the workspace"
    );
}

/// A `dev` run on a fresh workspace whose supervisor is SIGKILLed once its placeholders are in
/// place, with a registry of its own in `state` (so that no other test's run cleans up first):
/// returns the workspace and one placeholder it left.
fn killed_run(user: User, state: &Path) -> (Scratch, std::path::PathBuf) {
    let ws = Scratch::new(user);
    let mut c = user.command(&sandbox_bin());
    c.env("XDG_STATE_HOME", state)
        .args(["exec", "--profile", "dev", "--workspace"])
        .arg(ws.path())
        .args(["--", "sleep", "30"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut supervisor = c.spawn().unwrap();
    let placeholder = ws.path().join(".envrc");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !placeholder.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(placeholder.is_dir(), "as {user:?}: no placeholder appeared");
    // setpriv execs, so the pid is the supervisor's own.
    supervisor.kill().unwrap();
    supervisor.wait().unwrap();
    assert!(
        placeholder.exists(),
        "as {user:?}: nothing left to clean up?"
    );
    (ws, placeholder)
}

fn assert_cleaned(user: User, ws: &Scratch, placeholder: &Path, by: &str) {
    assert!(
        !placeholder.exists(),
        "as {user:?}: the killed run's placeholder survived {by}"
    );
    assert_eq!(
        std::fs::read_dir(ws.path()).unwrap().count(),
        0,
        "as {user:?}: the workspace is not as it was after {by}"
    );
}

#[test]
fn the_placeholders_of_a_killed_supervisor_are_removed_by_the_next_run() {
    for user in USERS {
        let state = Scratch::new(user);
        let (ws, placeholder) = killed_run(user, state.path());
        let other = Scratch::new(user);
        let out = user
            .command(&sandbox_bin())
            .env("XDG_STATE_HOME", state.path())
            .args(["exec", "--profile", "dev", "--workspace"])
            .arg(other.path())
            .args(["--", "true"])
            .current_dir(other.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_cleaned(user, &ws, &placeholder, "the next run");
    }
}

#[test]
fn the_placeholders_of_a_killed_supervisor_are_removed_by_check() {
    for user in USERS {
        let state = Scratch::new(user);
        let (ws, placeholder) = killed_run(user, state.path());
        let out = user
            .command(&sandbox_bin())
            .env("XDG_STATE_HOME", state.path())
            .arg("check")
            .current_dir(ws.path())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("placeholder"),
            "{out:?}"
        );
        assert_cleaned(user, &ws, &placeholder, "missy-sandbox check");
    }
}

/// `git init` in a workspace without `.git`: the new repository's hooks and config are the
/// run's own (they could not be protected), and the supervisor says so after the run.
#[test]
fn a_repository_the_run_creates_is_named_in_a_warning() {
    for user in USERS {
        let ws = Scratch::new(user);
        let out = in_dev(user, ws.path(), "true");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("WARNING"),
            "as {user:?}: {out:?}"
        );
        let out = in_dev(user, ws.path(), "git init -q . && echo INIT-OK");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("INIT-OK"),
            "as {user:?}: {out:?}"
        );
        let hooks = ws.path().join(".git/hooks");
        assert!(
            stderr.contains("WARNING") && stderr.contains(&*hooks.to_string_lossy()),
            "as {user:?}: {stderr}"
        );
    }
}

/// The hardening suite's planting scenarios under `dev` (the CLI test `hardening` runs only
/// `strict`, which protects nothing): blocked in the sandbox, escaped without it.
#[test]
fn the_planting_scenarios_of_the_hardening_suite_are_blocked_under_dev() {
    use missy_hardening::suite::{self, Column, Config, ProbeProgram, Status, User as SuiteUser};
    let names = ["git-hook-plant", "envrc-plant", "setuid-plant"];
    let config = Config {
        sandbox: sandbox_bin(),
        probe: ProbeProgram::missy_probe(crate::harness::probe_bin()),
        profiles: vec!["dev".into()],
        users: vec![SuiteUser::Current, SuiteUser::Nobody],
        jobs: 2,
        only: names.iter().map(|n| n.to_string()).collect(),
        mode: Default::default(),
    };
    let r = suite::run(&config).expect("the suite runs");
    let table = suite::report::text(&r);
    for name in names {
        for user in [SuiteUser::Current, SuiteUser::Nobody] {
            let bare = r
                .cell(name, user, &Column::Unsandboxed)
                .expect("control ran");
            assert!(
                bare.status == Status::Pass && bare.word == "escaped",
                "{name}: {table}"
            );
            let dev = r
                .cell(name, user, &Column::Profile("dev".into()))
                .expect("dev ran");
            assert!(
                dev.status == Status::Pass && dev.word == "blocked",
                "{name}: {table}"
            );
        }
    }
}
