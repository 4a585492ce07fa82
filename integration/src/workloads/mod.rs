//! The workloads suite: real developer tasks run under the `dev` profile, each in a fresh
//! workspace, each checked by what it produced, and each also run bare (the positive control,
//! and the baseline of the time ratio).
//!
//! Used by the `missy-workloads` binary (`make workloads`). A [`Task`] is a bash script, the
//! files it starts from, the programs it needs and a check of its result (its output and the
//! files it left in the workspace). The verdict of a cell (task, user):
//!
//! - the bare run must pass the check, or the cell fails as a broken control (a check that
//!   cannot pass proves nothing);
//! - the sandboxed run must pass the same check;
//! - a program the task needs that the user cannot reach is a SKIP naming it (uid 65534 cannot
//!   enter /root, where rustup installs cargo); for the user running the suite it is a FAIL:
//!   `make workloads` installs what the tasks need.

mod tasks;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use tasks::catalogue;

use crate::suite::User;
use crate::suite::host::{Ran, run_bounded};

/// Longest a single run may take before it is killed and failed.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The profile the tasks run under unless `--profile` names another.
pub const PROFILE: &str = "dev";

/// One real task.
#[derive(Debug)]
pub struct Task {
    pub name: &'static str,
    /// One line for the table: what the task does.
    pub what: &'static str,
    /// Programs looked up on PATH before the run; missing ones make the cell a SKIP or FAIL.
    pub tools: &'static [&'static str],
    /// Files written into the fresh workspace first: (relative path, content).
    pub files: &'static [(&'static str, &'static str)],
    /// A fixture directory (under integration/workloads/fixtures) copied into the workspace.
    pub fixture: Option<&'static str>,
    /// Run with `bash -eu -o pipefail -c`, in the workspace.
    pub script: &'static str,
    /// The result: the workspace after the run and the script's stdout.
    pub check: fn(&Path, &str) -> Result<(), String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

/// One task for one user.
#[derive(Debug, Clone)]
pub struct Cell {
    pub task: &'static str,
    pub user: User,
    pub verdict: Verdict,
    pub bare: Option<Duration>,
    pub sandboxed: Option<Duration>,
}

impl Cell {
    pub fn ratio(&self) -> Option<f64> {
        match (self.bare, self.sandboxed) {
            (Some(b), Some(s)) if !b.is_zero() => Some(s.as_secs_f64() / b.as_secs_f64()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub sandbox: PathBuf,
    /// The profile under test ([`PROFILE`] unless told otherwise).
    pub profile: String,
    pub users: Vec<User>,
    pub only: Vec<String>,
}

/// A scratch directory every user can traverse, with a copy of the sandbox binary in it (the
/// build directory may not be reachable by uid 65534); removed on drop.
struct Scratch {
    path: PathBuf,
    sandbox: PathBuf,
}

impl Scratch {
    fn new(sandbox: &Path) -> Result<Scratch, String> {
        let path = PathBuf::from(format!("/var/tmp/missy-workloads.{}", std::process::id()));
        let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
        std::fs::create_dir_all(&path).map_err(|e| fail("create", e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| fail("chmod", e))?;
        let copy = path.join("missy-sandbox");
        std::fs::copy(sandbox, &copy)
            .map_err(|e| format!("copy {} into the scratch directory: {e}", sandbox.display()))?;
        Ok(Scratch {
            path,
            sandbox: copy,
        })
    }

    /// A fresh, empty directory owned by `user`.
    fn dir(&self, rel: &str, user: User) -> Result<PathBuf, String> {
        let dir = self.path.join(rel);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        chown_tree(&self.path, &dir, user)?;
        Ok(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Give `dir` and everything below it, and its ancestors up to (not including) `top`, to `user`.
fn chown_tree(top: &Path, dir: &Path, user: User) -> Result<(), String> {
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor.filter(|a| a.starts_with(top) && *a != top) {
        user.chown(a)
            .map_err(|e| format!("chown {}: {e}", a.display()))?;
        ancestor = a.parent();
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        user.chown(&p)
            .map_err(|e| format!("chown {}: {e}", p.display()))?;
        if p.is_dir() && !p.is_symlink() {
            for entry in std::fs::read_dir(&p).map_err(|e| e.to_string())? {
                stack.push(entry.map_err(|e| e.to_string())?.path());
            }
        }
    }
    Ok(())
}

/// Copy a fixture tree (regular files and directories only).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Where the fixtures live in the source tree.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/fixtures")
}

/// The environment both sides start from: a short, fixed list, so the bare run sees what the
/// sandbox passes (the profile filters the rest anyway) and the caller's CARGO_TARGET_DIR or
/// RUSTFLAGS do not leak into the tasks.
fn base_env(cmd: &mut Command, home: &Path) {
    cmd.env_clear();
    for name in [
        "PATH",
        "LANG",
        "TERM",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "PYENV_ROOT",
    ] {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.env("HOME", home);
}

/// Where `tool` is for `user` (`command -v` in a login-less bash with the suite's PATH), or None.
fn locate(user: User, tool: &str, home: &Path) -> Option<String> {
    let mut cmd = user.command(Path::new("/bin/bash"));
    base_env(&mut cmd, home);
    cmd.args(["-c", &format!("command -v {tool}")])
        .current_dir("/");
    let out = cmd.output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !path.is_empty()).then_some(path)
}

enum Side {
    Bare,
    Sandboxed,
}

/// Prepare a fresh workspace for `task` and run it on one side; the check's verdict and the
/// elapsed time.
fn run_side(
    scratch: &Scratch,
    profile: &str,
    task: &Task,
    user: User,
    side: Side,
    home: &Path,
) -> Result<(Ran, PathBuf), String> {
    let label = match side {
        Side::Bare => "bare",
        Side::Sandboxed => "sandboxed",
    };
    let ws = scratch.dir(&format!("{}/{}/{label}/ws", user.label(), task.name), user)?;
    if let Some(fixture) = task.fixture {
        copy_tree(&fixtures().join(fixture), &ws)
            .map_err(|e| format!("copy fixture {fixture}: {e}"))?;
    }
    for (rel, content) in task.files {
        let path = ws.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, content).map_err(|e| format!("write {rel}: {e}"))?;
    }
    chown_tree(&scratch.path, &ws, user)?;
    let bash_args = ["-eu", "-o", "pipefail", "-c", task.script];
    let mut cmd = match side {
        Side::Bare => {
            let mut c = user.command(Path::new("/bin/bash"));
            base_env(&mut c, home);
            // The sandbox gives the task a private /tmp; bare, it gets its own directory.
            let tmp = scratch.dir(&format!("{}/{}/bare/tmp", user.label(), task.name), user)?;
            c.env("TMPDIR", tmp);
            c.args(bash_args);
            c
        }
        Side::Sandboxed => {
            let mut c = user.command(&scratch.sandbox);
            base_env(&mut c, home);
            c.env(
                "MISSY_AUDIT_LOG",
                scratch.path.join(user.label()).join("audit.jsonl"),
            );
            c.args(["exec", "--profile", profile, "--workspace"])
                .arg(&ws)
                .args(["--", "/bin/bash"])
                .args(bash_args);
            c
        }
    };
    cmd.current_dir(&ws).stdin(std::process::Stdio::null());
    let ran = run_bounded(&mut cmd, RUN_LIMIT, None)
        .map_err(|e| format!("{label} run could not start: {e}"))?;
    Ok((ran, ws))
}

/// What went wrong with a run, for the report: status, and the tail of stderr.
fn describe(ran: &Ran) -> String {
    let tail: Vec<&str> = ran.stderr.lines().rev().take(4).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let how = if ran.timed_out {
        "timed out".to_string()
    } else if let Some(sig) = ran.signal {
        format!("killed by signal {sig}")
    } else {
        format!("exit {}", ran.status.unwrap_or(-1))
    };
    format!("{how}; stderr: {}", tail.join(" | "))
}

fn judge_side(task: &Task, ran: &Ran, ws: &Path) -> Result<(), String> {
    if ran.timed_out || ran.status != Some(0) {
        return Err(describe(ran));
    }
    (task.check)(ws, &ran.stdout)
}

fn run_cell(scratch: &Scratch, profile: &str, task: &Task, user: User) -> Result<Cell, String> {
    let mut cell = Cell {
        task: task.name,
        user,
        verdict: Verdict::Pass,
        bare: None,
        sandboxed: None,
    };
    let home = match user {
        // Root runs with its own home: that is where rustup, pyenv and nvm put toolchains.
        User::Current => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root")),
        // uid 65534 gets an empty home of its own (its passwd entry's is /nonexistent).
        User::Nobody => scratch.dir("nobody/home", user)?,
    };
    for tool in task.tools {
        if locate(user, tool, &home).is_some() {
            continue;
        }
        let reason = match (user, locate(User::Current, tool, &home_of_current())) {
            (User::Nobody, Some(path)) => format!(
                "`{tool}` is {path}, which uid 65534 cannot reach (a toolchain owned by root under its home)"
            ),
            _ => format!("`{tool}` is not installed (make workloads installs what the tasks need)"),
        };
        cell.verdict = match user {
            User::Nobody => Verdict::Skip(reason),
            User::Current => Verdict::Fail(reason),
        };
        return Ok(cell);
    }
    let (bare, bare_ws) = run_side(scratch, profile, task, user, Side::Bare, &home)?;
    cell.bare = Some(bare.elapsed);
    if let Err(why) = judge_side(task, &bare, &bare_ws) {
        cell.verdict = Verdict::Fail(format!("bare run (the control) failed: {why}"));
        return Ok(cell);
    }
    let (sandboxed, ws) = run_side(scratch, profile, task, user, Side::Sandboxed, &home)?;
    cell.sandboxed = Some(sandboxed.elapsed);
    if let Err(why) = judge_side(task, &sandboxed, &ws) {
        cell.verdict = Verdict::Fail(format!("under {profile}: {why}"));
    }
    Ok(cell)
}

fn home_of_current() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Run every selected task for every user, in order (one at a time: the times are compared).
/// `progress` sees each cell as it finishes.
pub fn run(config: &Config, mut progress: impl FnMut(&Cell)) -> Result<Vec<Cell>, String> {
    if config.users.contains(&User::Nobody) && !nix::unistd::geteuid().is_root() {
        return Err("running as uid 65534 needs root (setpriv)".into());
    }
    let scratch = Scratch::new(&config.sandbox)?;
    let mut cells = Vec::new();
    for &user in &config.users {
        for task in catalogue() {
            if !config.only.is_empty() && !config.only.iter().any(|o| o == task.name) {
                continue;
            }
            let cell = run_cell(&scratch, &config.profile, task, user)?;
            progress(&cell);
            cells.push(cell);
            // Each task's directories go as soon as it is judged: builds are not small.
            let _ = std::fs::remove_dir_all(scratch.path.join(user.label()).join(task.name));
        }
    }
    Ok(cells)
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// The table: one row per task and user, with times and the ratio; then failures and skips
/// with their reasons; then `N passed, M failed, K skipped` and the median ratio per user.
pub fn report(cells: &[Cell]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<7} {:>8} {:>10} {:>6}  result",
        "task", "user", "bare s", "sandbox s", "ratio"
    );
    for c in cells {
        let result = match &c.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "skip",
        };
        let _ = writeln!(
            out,
            "{:<22} {:<7} {:>8} {:>10} {:>6}  {result}",
            c.task,
            c.user.label(),
            seconds(c.bare),
            seconds(c.sandboxed),
            c.ratio().map_or_else(|| "-".into(), |r| format!("{r:.2}")),
        );
    }
    for c in cells {
        match &c.verdict {
            Verdict::Fail(why) => {
                let _ = writeln!(out, "FAIL {} as {}: {why}", c.task, c.user.label());
            }
            Verdict::Skip(why) => {
                let _ = writeln!(out, "SKIP {} as {}: {why}", c.task, c.user.label());
            }
            Verdict::Pass => {}
        }
    }
    let mut users: Vec<User> = Vec::new();
    for c in cells {
        if !users.contains(&c.user) {
            users.push(c.user);
        }
    }
    for user in users {
        let mut ratios: Vec<f64> = cells
            .iter()
            .filter(|c| c.user == user && c.verdict == Verdict::Pass)
            .filter_map(Cell::ratio)
            .collect();
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            let (bare, sandboxed) = cells
                .iter()
                .filter(|c| c.user == user && c.verdict == Verdict::Pass)
                .fold((0.0, 0.0), |(b, s), c| {
                    (
                        b + c.bare.map_or(0.0, |d| d.as_secs_f64()),
                        s + c.sandboxed.map_or(0.0, |d| d.as_secs_f64()),
                    )
                });
            let _ = writeln!(
                out,
                "as {}: median ratio sandboxed/bare {median:.2}; total {bare:.1} s bare, {sandboxed:.1} s sandboxed",
                user.label()
            );
        }
    }
    let count = |f: fn(&Verdict) -> bool| cells.iter().filter(|c| f(&c.verdict)).count();
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        count(|v| *v == Verdict::Pass),
        count(|v| matches!(v, Verdict::Fail(_))),
        count(|v| matches!(v, Verdict::Skip(_))),
    );
    out
}
