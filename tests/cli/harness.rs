//! Shared test machinery: run the built `missy-sandbox` and `missy-probe` as root and as an
//! unprivileged user, each attempt both inside the sandbox and without it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Who runs the supervisor (and the unsandboxed control).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    Root,
    Nobody,
}

pub const NOBODY: u32 = 65534;

pub const USERS: [User; 2] = [User::Root, User::Nobody];

impl User {
    pub fn uid(self) -> u32 {
        match self {
            User::Root => 0,
            User::Nobody => NOBODY,
        }
    }

    /// The words that run a command as this user (`setpriv …` for uid 65534), for command
    /// lines handed to another program.
    pub fn argv_prefix(self) -> Vec<String> {
        match self {
            User::Root => Vec::new(),
            User::Nobody => [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    /// Wrap `program args` so it runs as this user.
    pub fn command(self, program: &Path) -> Command {
        match self {
            User::Root => Command::new(program),
            User::Nobody => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                    .arg(program);
                // The default audit log of a non-root user lives under $XDG_STATE_HOME; the
                // inherited HOME (root's) is not writable by uid 65534.
                c.env("XDG_STATE_HOME", nobody_state_dir());
                c
            }
        }
    }
}

/// Tests that hold pipes and sockets open for seconds (sessions with long-lived servers) take
/// this shared; the load tests, which count the test process's own fds to find leaks, take it
/// exclusive, so no other test's fds are mistaken for a leak.
static FD_QUIET: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held while a test keeps long-lived fds open.
pub fn holding_fds() -> std::sync::RwLockReadGuard<'static, ()> {
    FD_QUIET.read().unwrap_or_else(|e| e.into_inner())
}

/// Held while a test counts the process's fds: no test holding long-lived fds runs meanwhile.
pub fn counting_fds() -> std::sync::RwLockWriteGuard<'static, ()> {
    FD_QUIET.write().unwrap_or_else(|e| e.into_inner())
}

/// A directory every user can traverse holding copies of the binaries under test (the build
/// directory may sit under a home directory that uid 65534 cannot enter).
fn bin_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Remove the copies earlier test runs left behind (their process is gone).
        for entry in std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("missy-test-bin-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = std::env::temp_dir().join(format!("missy-test-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sandbox = PathBuf::from(env!("CARGO_BIN_EXE_missy-sandbox"));
        let probe = sandbox.with_file_name("missy-probe");
        assert!(
            probe.exists(),
            "{} is missing: build the workspace first (make test does)",
            probe.display()
        );
        for src in [&sandbox, &probe] {
            let dst = dir.join(src.file_name().unwrap());
            std::fs::copy(src, &dst).unwrap();
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    })
}

/// `$XDG_STATE_HOME` for uid 65534: a directory it owns, shared by the tests of this process.
fn nobody_state_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = bin_dir().join("state-65534");
        std::fs::create_dir_all(&dir).unwrap();
        chown(&dir, User::Nobody);
        dir
    })
}

/// True when this test process may run on at least two CPUs (what `placement` needs to start
/// pid 1 apart); otherwise prints why the caller SKIPs.
pub fn two_cpus_or_skip() -> bool {
    let ours = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
    let count = (0..nix::sched::CpuSet::count())
        .filter(|&cpu| ours.is_set(cpu).unwrap_or(false))
        .count();
    if count < 2 {
        eprintln!("SKIP: this test process may run on one CPU only; nothing to start apart");
    }
    count >= 2
}

pub fn sandbox_bin() -> PathBuf {
    bin_dir().join("missy-sandbox")
}

pub fn probe_bin() -> PathBuf {
    bin_dir().join("missy-probe")
}

/// A scratch directory owned by `user`, removed on drop. Sandboxed runs use it as workspace.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new(user: User) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("missy-test-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        chown(dir.path(), user);
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file owned by `user`.
    pub fn file(&self, name: &str, content: &str, user: User) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        chown(&p, user);
        p
    }

    /// Make the probe available in this directory (so a sandbox with it as workspace can
    /// execute it). A hard link, never a copy: writing an executable while other test threads
    /// fork makes their children hold it open for writing, and exec then fails with ETXTBSY.
    pub fn with_probe(&self, _user: User) -> PathBuf {
        let p = self.path().join("missy-probe");
        if !p.exists() {
            std::fs::hard_link(probe_bin(), &p).unwrap();
        }
        p
    }
}

pub fn chown(path: &Path, user: User) {
    std::os::unix::fs::chown(path, Some(user.uid()), Some(user.uid())).unwrap();
}

/// What a probe said. `line` and `stderr` are read through `Debug` in assertion messages.
#[derive(Debug)]
#[allow(dead_code)]
pub struct Verdict {
    pub word: String,
    pub line: String,
    pub status: Option<i32>,
    pub stderr: String,
}

impl Verdict {
    fn from(out: Output) -> Verdict {
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let line = stdout.lines().last().unwrap_or("").to_string();
        let word = line.split_whitespace().next().unwrap_or("").to_string();
        Verdict {
            word,
            line,
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    pub fn is(&self, word: &str) -> bool {
        self.word == word
    }
}

/// Run the probe without a sandbox, as `user`.
pub fn unsandboxed(user: User, scratch: &Scratch, args: &[&str]) -> Verdict {
    let probe = scratch.with_probe(user);
    let out = user
        .command(&probe)
        .args(args)
        .current_dir(scratch.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Verdict::from(out)
}

/// `missy-sandbox exec` as `user` with `scratch` as workspace.
pub fn exec_command(user: User, scratch: &Scratch, profile: &str, extra: &[&str]) -> Command {
    let mut c = user.command(&sandbox_bin());
    c.args(["exec", "--profile", profile, "--workspace"])
        .arg(scratch.path())
        .args(extra)
        .current_dir(scratch.path());
    c.env("HOME", scratch.path());
    c
}

/// Run the probe inside the sandbox, as `user`.
pub fn sandboxed(user: User, scratch: &Scratch, profile: &str, args: &[&str]) -> Verdict {
    let probe = scratch.with_probe(user);
    let out = exec_command(user, scratch, profile, &["--"])
        .arg(&probe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Verdict::from(out)
}

/// The core assertion: the attempt escapes without the sandbox and is blocked inside it.
pub fn assert_denied(user: User, what: &str, outside: &Verdict, inside: &Verdict) {
    assert!(
        outside.is("ESCAPED"),
        "{what} as {user:?}: the unsandboxed control must succeed, got {outside:?}"
    );
    assert!(
        inside.is("BLOCKED"),
        "{what} as {user:?}: must be blocked in the sandbox, got {inside:?}"
    );
}

/// Poll `done` every 20 ms for up to `limit`: true as soon as it holds, false if it never does.
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`eventually`], failing the test (naming `what`) if `done` never holds.
pub fn wait_until(what: &str, limit: Duration, done: impl FnMut() -> bool) {
    assert!(eventually(limit, done), "timed out waiting: {what}");
}

/// For the unsandboxed control of a `daemonize` probe that printed `stdout`: true once the
/// daemon appends to its heartbeat `file` after the probe returned (it outlived its parent),
/// waiting up to 10 s, as a loaded machine may take that long to schedule it. The daemon is
/// then killed by the pid the probe reported.
pub fn control_daemon_outlives_probe(stdout: &str, file: &Path) -> bool {
    let size = || std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let beats = eventually(Duration::from_secs(10), || size() > before);
    let pid = stdout
        .split("daemon pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse::<i32>().ok());
    // Only if that pid is still this probe's daemon: its command line names the file.
    let file_name = file.to_string_lossy();
    if let Some(pid) = pid
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&*file_name))
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    beats
}

/// A host process that stays alive for the test and is killed on drop.
pub struct HostProcess {
    pub child: std::process::Child,
}

impl HostProcess {
    pub fn sleep(user: User, env: &[(&str, &str)]) -> HostProcess {
        let mut c = user.command(Path::new("/bin/sleep"));
        c.arg("120").stdin(Stdio::null()).stdout(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().unwrap();
        // Wait until `sleep` itself runs (after setpriv's exec) and its environment is in place:
        // /proc/<pid>/exe changes before exec has copied the environment.
        let proc_dir = Path::new("/proc").join(child.id().to_string());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let ready = || {
            std::fs::read_link(proc_dir.join("exe")).is_ok_and(|p| p.ends_with("sleep"))
                && std::fs::read(proc_dir.join("environ")).is_ok_and(|e| !e.is_empty())
        };
        while !ready() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        HostProcess { child }
    }

    /// pid of the process itself (setpriv execs, so the pid is the same).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process spoken to in lines on its stdin and stdout (an MCP server, the gateway), killed on
/// drop; its lines arrive on a channel so waits can time out.
pub struct LinePeer {
    pub child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl LinePeer {
    /// Start `cmd` with its stdin and stdout on pipes.
    pub fn spawn(mut cmd: Command) -> LinePeer {
        use std::io::BufRead;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LinePeer {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// Write one line.
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line, as JSON, within `timeout`.
    pub fn recv_json(&self, timeout: std::time::Duration) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("no line within {timeout:?}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

impl Drop for LinePeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
