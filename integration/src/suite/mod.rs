//! The hardening suite: every escape scenario, run without the sandbox (the positive control)
//! and under each shipped profile, as root and as uid 65534, with host-side evidence.
//!
//! Used by the `missy-hardening` binary (`make hardening`), by `missy-sandbox selftest` and by
//! the CLI test `hardening`. A scenario (see [`scenarios`]) prepares one attempt per cell: the
//! probe's arguments plus the host fixtures and the evidence the host checks afterwards. The
//! verdict of a cell follows fixed rules ([`judge`]):
//!
//! - unsandboxed, the attempt must escape (the probe says `ESCAPED`, or `SENT` and the host saw
//!   it), so that every check is shown able to fail; a denial the kernel gives this user anyway
//!   (`inconclusive:`) or a feature this kernel lacks makes the control a SKIP with the reason;
//! - sandboxed, `BLOCKED` (or `SENT` with nothing seen by the host) passes; `ESCAPED` or any
//!   host evidence fails; `ERROR`, a setup failure or no verdict fails; SKIP carries a reason.
//!
//! Expectations that depend on the profile (resource limits) are read from the profile itself
//! (`missy-sandbox profile show`), never written into the scenario.

pub mod host;
pub mod report;
pub mod scenarios;

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host::{CellDir, Evidence, HostProcess, Ran};

/// uid 65534, the unprivileged user of the second pass.
pub const NOBODY: u32 = 65534;

/// The owner of the setuid file `setuid-exec` runs: an unused uid, so the file grants nothing
/// but a different euid (never root).
pub const SETUID_OWNER: u32 = 65533;

/// Who runs the supervisor and the unsandboxed control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// The runner's own identity (no setpriv).
    Current,
    /// uid/gid 65534 through `setpriv --reuid=65534 --regid=65534 --clear-groups` (needs root).
    Nobody,
}

impl User {
    pub fn uid(self) -> u32 {
        match self {
            User::Current => nix::unistd::geteuid().as_raw(),
            User::Nobody => NOBODY,
        }
    }

    pub fn label(self) -> String {
        match self {
            User::Current if self.uid() == 0 => "root".into(),
            User::Current => format!("uid {}", self.uid()),
            User::Nobody => "nobody".into(),
        }
    }

    /// A command running `program` as this user.
    pub fn command(self, program: &Path) -> Command {
        match self {
            User::Current => Command::new(program),
            User::Nobody => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                    .arg(program);
                c
            }
        }
    }

    /// Give `path` to this user (a no-op for the current user).
    pub fn chown(self, path: &Path) -> std::io::Result<()> {
        match self {
            User::Current => Ok(()),
            User::Nobody => std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)),
        }
    }
}

/// How to invoke the probes.
#[derive(Debug, Clone)]
pub struct ProbeProgram {
    /// The binary holding the probes (`missy-probe`, or `missy-sandbox` itself).
    pub path: PathBuf,
    /// Arguments before the probe name (`["__probe"]` for `missy-sandbox`).
    pub prefix: Vec<String>,
    /// The binary runs the probe its link is named after (`missy-probe` does): each cell links
    /// it into the workspace under the probe's name, one program per attempt.
    pub by_link_name: bool,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `missy-sandbox` binary.
    pub sandbox: PathBuf,
    pub probe: ProbeProgram,
    /// Profile names (columns after `unsandboxed`).
    pub profiles: Vec<String>,
    pub users: Vec<User>,
    /// Cells run at once (exclusive scenarios run alone afterwards).
    pub jobs: usize,
    /// Only these scenarios (all when empty).
    pub only: Vec<String>,
}

/// The limits a profile declares (`None`: the profile sets none).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub processes: Option<u64>,
    pub memory: Option<u64>,
    pub open_files: Option<u64>,
    pub file_size: Option<u64>,
    pub tmp_size: Option<u64>,
}

impl Limits {
    /// The largest of each limit over `all` (what the positive control must be able to exceed).
    fn max_of(all: &[Profile]) -> Limits {
        let pick = |f: fn(&Limits) -> Option<u64>| all.iter().filter_map(|p| f(&p.limits)).max();
        Limits {
            processes: pick(|l| l.processes),
            memory: pick(|l| l.memory),
            open_files: pick(|l| l.open_files),
            file_size: pick(|l| l.file_size),
            tmp_size: pick(|l| l.tmp_size),
        }
    }
}

/// A profile under test, as `missy-sandbox profile show` reports it.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub limits: Limits,
    /// What `--profile` gets: the name, or a generated file extending it (see `wrapper`).
    pub reference: String,
    /// Set when the profile does not grant the workspace, so the probe could not even start:
    /// the run uses a generated profile that extends it with the workspace read-only and
    /// executable (nothing writable, no other grant).
    pub wrapper: Option<PathBuf>,
}

/// Which side of the comparison a cell is.
#[derive(Debug, Clone, Copy)]
pub enum Side<'a> {
    /// Unsandboxed; `limits` are the largest each profile under test declares.
    Control {
        limits: &'a Limits,
    },
    Sandbox {
        profile: &'a Profile,
    },
}

impl Side<'_> {
    pub fn is_control(&self) -> bool {
        matches!(self, Side::Control { .. })
    }

    pub fn limits(&self) -> &Limits {
        match self {
            Side::Control { limits } => limits,
            Side::Sandbox { profile } => &profile.limits,
        }
    }
}

/// The threat areas of docs/threat-model.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Filesystem,
    Processes,
    Network,
    Secrets,
    Resources,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::Filesystem => "filesystem",
            Area::Processes => "processes",
            Area::Network => "network",
            Area::Secrets => "secrets",
            Area::Resources => "resources",
        }
    }
}

/// One attempt, prepared for one cell.
#[derive(Debug, Default)]
pub struct Attempt {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Open this file (outside the workspace) as descriptor N in the probe's parent chain.
    pub inherit_fd: Option<(PathBuf, i32)>,
    /// stdin is a fresh pty (for TIOCSTI).
    pub pty_stdin: bool,
    /// `--timeout` for the sandboxed run (the wall-time scenario).
    pub timeout: Option<&'static str>,
    /// Exit statuses of the sandboxed run that mean the sandbox stopped the attempt by force
    /// (137: the OOM killer; 124: the wall-time kill), with what they mean.
    pub forced_stops: Vec<(i32, &'static str)>,
    pub evidence: Vec<Evidence>,
    /// SIGKILL the process the cell started (the supervisor, or the probe unsandboxed) after
    /// this long; the cell is then judged on the host evidence alone.
    pub kill_after: Option<Duration>,
    /// Host processes the attempt targets; ended with the cell.
    pub victims: Vec<HostProcess>,
}

impl Attempt {
    pub fn new<S: AsRef<str>>(args: &[S]) -> Attempt {
        Attempt {
            args: args.iter().map(|s| s.as_ref().to_string()).collect(),
            ..Attempt::default()
        }
    }
}

/// Why a scenario could not prepare its attempt.
#[derive(Debug)]
pub enum Skip {
    /// Nothing to test here, with the reason (the profile sets no such limit, the host lacks
    /// the feature): the cell is a SKIP.
    Reason(String),
    /// The host fixture could not be built: the cell fails (a check that did not run).
    Broken(String),
}

impl From<String> for Skip {
    fn from(reason: String) -> Skip {
        Skip::Reason(reason)
    }
}

impl From<&str> for Skip {
    fn from(reason: &str) -> Skip {
        Skip::Reason(reason.to_string())
    }
}

/// What a scenario gets to prepare its attempt.
#[derive(Debug)]
pub struct Fixture<'a> {
    pub user: User,
    pub dir: &'a CellDir,
    /// Unique in this run; part of paths and names the scenario creates.
    pub tag: String,
    pub env: &'a Environment,
}

/// Facts about this host gathered once before the cells run.
#[derive(Debug)]
pub struct Environment {
    pub kernel: String,
    pub runner_is_root: bool,
    /// A host device node the runner itself can open (for `device-read`).
    pub device: Option<PathBuf>,
    /// A setuid copy of the probe owned by [`SETUID_OWNER`] (only when the runner is root).
    pub setuid_copy: Option<PathBuf>,
    pub probe: ProbeProgram,
}

/// An entry of the catalogue.
#[derive(Debug)]
pub struct Scenario {
    /// Row name, unique.
    pub name: &'static str,
    /// The probe (subcommand) it runs; `None` for threats with nothing to attack yet.
    pub probe: Option<&'static str>,
    pub area: Area,
    pub threat: &'static str,
    /// The controls that stop it.
    pub mechanism: &'static str,
    /// Set for threats whose target does not exist yet (the egress proxy, the vault): every
    /// cell is a SKIP with this reason.
    pub pending: Option<&'static str>,
    /// Runs alone: it loads the host or counts every process of the uid (RLIMIT_NPROC).
    pub exclusive: bool,
    pub prepare: fn(&Fixture, Side) -> Result<Attempt, Skip>,
}

/// The outcome of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// A column of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Unsandboxed,
    Profile(String),
}

impl Column {
    pub fn name(&self) -> &str {
        match self {
            Column::Unsandboxed => "unsandboxed",
            Column::Profile(p) => p,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub scenario: &'static str,
    pub user: User,
    pub column: Column,
    pub status: Status,
    /// The verdict word the probe printed (or what the host concluded), lower case.
    pub word: String,
    /// The probe's line, host evidence, or the skip/failure reason.
    pub detail: String,
    pub elapsed: Duration,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct Report {
    pub kernel: String,
    pub profiles: Vec<Profile>,
    pub users: Vec<User>,
    pub scenarios: Vec<&'static Scenario>,
    pub cells: Vec<Cell>,
    pub elapsed: Duration,
}

impl Report {
    pub fn count(&self, s: Status) -> usize {
        self.cells.iter().filter(|c| c.status == s).count()
    }

    pub fn cell(&self, scenario: &str, user: User, column: &Column) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.scenario == scenario && c.user == user && &c.column == column)
    }
}

/// Run the suite. Errors are for the runner's own setup (binaries missing, no setpriv).
pub fn run(config: &Config) -> Result<Report, String> {
    let started = Instant::now();
    if config.users.contains(&User::Nobody) {
        if !nix::unistd::geteuid().is_root() {
            return Err("running as uid 65534 needs root (setpriv)".into());
        }
        let ok = Command::new("setpriv")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("setpriv (util-linux) is needed for the uid 65534 pass".into());
        }
    }
    let scratch = Scratch::new()?;
    let (sandbox, probe) = scratch.install(config)?;
    let profiles = config
        .profiles
        .iter()
        .map(|p| load_profile(&sandbox, p, &scratch.path))
        .collect::<Result<Vec<_>, _>>()?;
    let env = Environment {
        kernel: kernel_release(),
        runner_is_root: nix::unistd::geteuid().is_root(),
        device: pick_device(),
        setuid_copy: scratch.setuid_copy(&probe.path),
        probe,
    };
    let scenarios: Vec<&'static Scenario> = scenarios::CATALOGUE
        .iter()
        .filter(|s| config.only.is_empty() || config.only.iter().any(|o| o == s.name))
        .collect();
    let max_limits = Limits::max_of(&profiles);

    // One job per (scenario, user, column).
    let mut shared = VecDeque::new();
    let mut exclusive = VecDeque::new();
    for s in &scenarios {
        for &user in &config.users {
            let mut columns = vec![Column::Unsandboxed];
            columns.extend(profiles.iter().map(|p| Column::Profile(p.name.clone())));
            for column in columns {
                let job = (*s, user, column);
                if s.exclusive {
                    exclusive.push_back(job);
                } else {
                    shared.push_back(job);
                }
            }
        }
    }
    let ctx = RunCtx {
        sandbox,
        env,
        profiles,
        max_limits,
        scratch: scratch.path.clone(),
        counter: Mutex::new(0),
    };
    let cells = Arc::new(Mutex::new(Vec::new()));
    let queue = Mutex::new(shared);
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((s, user, column)) = next else { break };
                    let cell = ctx.run_cell(s, user, &column);
                    if let Ok(mut c) = cells.lock() {
                        c.push(cell);
                    }
                }
            });
        }
    });
    for (s, user, column) in exclusive {
        let cell = ctx.run_cell(s, user, &column);
        if let Ok(mut c) = cells.lock() {
            c.push(cell);
        }
    }
    let cells = Arc::try_unwrap(cells)
        .map_err(|_| "cells still shared".to_string())?
        .into_inner()
        .map_err(|_| "a worker panicked".to_string())?;
    Ok(Report {
        kernel: ctx.env.kernel.clone(),
        profiles: ctx.profiles,
        users: config.users.clone(),
        scenarios,
        cells,
        elapsed: started.elapsed(),
    })
}

/// The run's private directory: binaries every user can execute, generated profiles, cells.
#[derive(Debug)]
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> Result<Scratch, String> {
        let path = std::env::temp_dir().join(format!("missy-hardening-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("bin"))
            .and_then(|()| std::fs::create_dir_all(path.join("profiles")))
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        for d in [path.clone(), path.join("bin"), path.join("profiles")] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("chmod {}: {e}", d.display()))?;
        }
        Ok(Scratch { path })
    }

    /// Copy the binaries where uid 65534 can run them (the build directory may sit in a home
    /// directory it cannot enter). The same binary may be both (selftest).
    fn install(&self, config: &Config) -> Result<(PathBuf, ProbeProgram), String> {
        let copy = |src: &Path, name: &str| -> Result<PathBuf, String> {
            let dst = self.path.join("bin").join(name);
            std::fs::copy(src, &dst).map_err(|e| format!("copy {}: {e}", src.display()))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("chmod {}: {e}", dst.display()))?;
            Ok(dst)
        };
        let sandbox = copy(&config.sandbox, "missy-sandbox")?;
        let same = std::fs::canonicalize(&config.sandbox).ok()
            == std::fs::canonicalize(&config.probe.path).ok();
        let probe_path = if same {
            sandbox.clone()
        } else {
            copy(&config.probe.path, "missy-probe")?
        };
        Ok((
            sandbox,
            ProbeProgram {
                path: probe_path,
                ..config.probe.clone()
            },
        ))
    }

    /// A copy of the probe, setuid and owned by [`SETUID_OWNER`]; only root can make one.
    fn setuid_copy(&self, probe: &Path) -> Option<PathBuf> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        let dst = self.path.join("bin").join("setuid-probe");
        std::fs::copy(probe, &dst).ok()?;
        std::os::unix::fs::chown(&dst, Some(SETUID_OWNER), Some(SETUID_OWNER)).ok()?;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o4755)).ok()?;
        Some(dst)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `missy-sandbox profile show NAME` → limits; a wrapper profile when the workspace is not
/// granted at all.
fn load_profile(sandbox: &Path, name: &str, scratch: &Path) -> Result<Profile, String> {
    let probe_ws = scratch.join("profile-probe-ws");
    std::fs::create_dir_all(&probe_ws).map_err(|e| e.to_string())?;
    let out = Command::new(sandbox)
        .args(["profile", "show", name, "--workspace"])
        .arg(&probe_ws)
        .current_dir(&probe_ws)
        .env("HOME", &probe_ws)
        .output()
        .map_err(|e| format!("missy-sandbox profile show {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "missy-sandbox profile show {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("profile show {name}: not JSON: {e}"))?;
    let limit = |k: &str| json["limits"][k].as_u64();
    let limits = Limits {
        processes: limit("processes"),
        memory: limit("memory"),
        open_files: limit("open_files"),
        file_size: limit("file_size"),
        tmp_size: limit("tmp_size"),
    };
    let ws = probe_ws.to_string_lossy().to_string();
    let granted = ["read", "exec", "write"].iter().any(|k| {
        json[*k]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(ws.as_str())))
    });
    let _ = std::fs::remove_dir_all(&probe_ws);
    if granted {
        return Ok(Profile {
            name: name.to_string(),
            limits,
            reference: name.to_string(),
            wrapper: None,
        });
    }
    let file = scratch
        .join("profiles")
        .join(format!("{name}-with-probe.toml"));
    let text = format!(
        "# Generated by the hardening suite: `{name}` does not grant the workspace, so the probe\n\
         # could not start. This adds exactly that, read-only and executable.\n\
         extends = \"{name}\"\n\
         description = \"{name} + the workspace read-only and executable (hardening suite)\"\n\n\
         [filesystem]\nexec = [\"{{workspace}}\"]\n"
    );
    std::fs::write(&file, text).map_err(|e| format!("write {}: {e}", file.display()))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| e.to_string())?;
    Ok(Profile {
        name: name.to_string(),
        limits,
        reference: file.to_string_lossy().to_string(),
        wrapper: Some(file),
    })
}

fn kernel_release() -> String {
    let u = nix::sys::utsname::uname();
    match u {
        Ok(u) => format!(
            "{} {} ({})",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.machine().to_string_lossy()
        ),
        Err(_) => "unknown".into(),
    }
}

/// A host device node outside the sandbox's minimal /dev that the runner can open: the root
/// filesystem's disk, else a loop device, else the kernel log.
fn pick_device() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
        for line in info.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(4) == Some(&"/")
                && let Some(dash) = fields.iter().position(|f| *f == "-")
                && let Some(src) = fields.get(dash + 2)
                && src.starts_with("/dev/")
            {
                candidates.push(PathBuf::from(src));
            }
        }
    }
    candidates.extend(["/dev/loop0", "/dev/kmsg", "/dev/mem"].map(PathBuf::from));
    let is_device = |p: &Path| {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(p)
            .is_ok_and(|m| m.file_type().is_block_device() || m.file_type().is_char_device())
    };
    let opens = |p: &Path| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(p)
            .is_ok()
    };
    if let Some(p) = candidates.iter().find(|p| is_device(p) && opens(p)) {
        return Some(p.clone());
    }
    // Not root: the control will be refused by the mode bits, which the probe reports.
    candidates.into_iter().find(|p| is_device(p))
}

struct RunCtx {
    sandbox: PathBuf,
    env: Environment,
    profiles: Vec<Profile>,
    max_limits: Limits,
    scratch: PathBuf,
    counter: Mutex<u64>,
}

/// Longest a single cell may take before it is killed (and fails).
const CELL_LIMIT: Duration = Duration::from_secs(120);

impl RunCtx {
    fn run_cell(&self, s: &'static Scenario, user: User, column: &Column) -> Cell {
        let start = Instant::now();
        let mut cell = Cell {
            scenario: s.name,
            user,
            column: column.clone(),
            status: Status::Skip,
            word: "skip".into(),
            detail: String::new(),
            elapsed: Duration::ZERO,
        };
        let (status, word, detail) = self.attempt(s, user, column);
        cell.status = status;
        cell.word = word;
        cell.detail = detail;
        cell.elapsed = start.elapsed();
        cell
    }

    fn attempt(
        &self,
        s: &'static Scenario,
        user: User,
        column: &Column,
    ) -> (Status, String, String) {
        let skip = |why: String| (Status::Skip, "skip".to_string(), why);
        if let Some(why) = s.pending {
            return skip(why.to_string());
        }
        let Some(probe) = s.probe else {
            return skip("no probe".into());
        };
        let side = match column {
            Column::Unsandboxed => Side::Control {
                limits: &self.max_limits,
            },
            Column::Profile(name) => match self.profiles.iter().find(|p| &p.name == name) {
                Some(profile) => Side::Sandbox { profile },
                None => return (Status::Fail, "error".into(), format!("no profile {name}")),
            },
        };
        let n = {
            let mut c = self.counter.lock().unwrap_or_else(|e| e.into_inner());
            *c += 1;
            *c
        };
        let tag = format!("mh{}x{n}", std::process::id());
        let dir = match CellDir::new(&self.scratch, &tag, user) {
            Ok(d) => d,
            Err(e) => return (Status::Fail, "error".into(), format!("cell setup: {e}")),
        };
        let fixture = Fixture {
            user,
            dir: &dir,
            tag: tag.clone(),
            env: &self.env,
        };
        let mut attempt = match (s.prepare)(&fixture, side) {
            Ok(a) => a,
            Err(Skip::Reason(why)) => return skip(why),
            Err(Skip::Broken(why)) => return (Status::Fail, "error".into(), why),
        };
        let ran = self.launch(probe, user, &dir, side, &attempt);
        let control = side.is_control();
        let mut seen = Vec::new();
        for ev in &mut attempt.evidence {
            if let Some(s) = ev.seen(control) {
                seen.push(s);
            }
            ev.cleanup();
        }
        let result = match ran {
            Ok(ran) => judge(side, &ran, &attempt, &seen),
            Err(e) => (Status::Fail, "error".into(), format!("cannot run: {e}")),
        };
        drop(attempt);
        result
    }

    /// Link the probe into the workspace and run it, unsandboxed or through `exec`.
    fn launch(
        &self,
        probe: &str,
        user: User,
        dir: &CellDir,
        side: Side,
        attempt: &Attempt,
    ) -> std::io::Result<Ran> {
        let program = &self.env.probe;
        // One program per attempt: the probe appears in the workspace under its own name.
        let link = dir.ws.join(probe);
        std::fs::hard_link(&program.path, &link)
            .or_else(|_| std::fs::copy(&program.path, &link).map(drop))?;
        let mut probe_args: Vec<String> = Vec::new();
        if !program.by_link_name {
            probe_args.extend(program.prefix.iter().cloned());
            probe_args.push(probe.to_string());
        }
        probe_args.extend(attempt.args.iter().cloned());
        let mut cmd = match side {
            Side::Control { .. } => {
                let mut c = user.command(&link);
                c.args(&probe_args);
                c
            }
            Side::Sandbox { profile } => {
                let mut c = user.command(&self.sandbox);
                c.args(["exec", "--profile", &profile.reference, "--workspace"])
                    .arg(&dir.ws);
                if let Some(t) = attempt.timeout {
                    c.args(["--timeout", t]);
                }
                c.arg("--").arg(&link).args(&probe_args);
                c
            }
        };
        cmd.current_dir(&dir.ws)
            .env("HOME", &dir.root)
            .env_remove("MISSY_LOG");
        for (k, v) in &attempt.env {
            cmd.env(k, v);
        }
        // A pty whose slave is stdin; the master stays open until the run ends.
        let mut _master = None;
        if attempt.pty_stdin {
            let pty = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
            _master = Some(pty.master);
            cmd.stdin(Stdio::from(pty.slave));
        } else {
            cmd.stdin(Stdio::null());
        }
        let _held;
        if let Some((path, target)) = &attempt.inherit_fd {
            let file = std::fs::File::open(path)?;
            let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
            let target = *target;
            _held = file;
            // SAFETY: the closure runs between fork and exec and calls only dup2 and fcntl, which
            // are async-signal-safe; `raw` stays open in the parent until the child has exec'd.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    // dup2 onto itself is a no-op that would leave close-on-exec set (std opens
                    // every file with it), so the fd would not be inherited after all.
                    let rc = if raw == target {
                        libc::fcntl(target, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(raw, target)
                    };
                    if rc < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let survivor_tag = attempt.evidence.iter().find_map(|e| match e {
            Evidence::Survivor(tag) => Some(tag.as_str()),
            _ => None,
        });
        let kill = attempt.kill_after.map(|after| (after, survivor_tag));
        host::run_bounded(&mut cmd, CELL_LIMIT, kill)
    }
}

/// The verdict line: the last line of stdout that starts with a verdict word.
fn verdict_line(stdout: &str) -> Option<(&str, &str)> {
    stdout.lines().rev().find_map(|l| {
        let word = l.split_whitespace().next()?;
        matches!(word, "BLOCKED" | "ESCAPED" | "SKIP" | "SENT" | "ERROR").then_some((word, l))
    })
}

/// The rules of the module doc, for one cell.
pub fn judge(
    side: Side,
    ran: &Ran,
    attempt: &Attempt,
    seen: &[String],
) -> (Status, String, String) {
    let fail = |word: &str, why: String| (Status::Fail, word.to_string(), why);
    if ran.timed_out {
        return fail(
            "hung",
            format!("killed after {} s without finishing", CELL_LIMIT.as_secs()),
        );
    }
    if let Some(after) = attempt.kill_after {
        // The process was killed on purpose: only the host can tell what survived it.
        let killed = format!("SIGKILLed after {:.1} s", after.as_secs_f64());
        if ran.tagged_at_kill == Some(false) {
            return fail(
                "not running",
                format!(
                    "{killed}, but the attempt was not running then: {}",
                    ran.stderr.trim()
                ),
            );
        }
        return match (side.is_control(), seen.is_empty()) {
            (true, false) => (
                Status::Pass,
                "escaped".into(),
                format!("{killed}; host: {}", seen.join("; ")),
            ),
            (true, true) => fail(
                "nothing",
                format!("{killed}, but nothing survived: the check cannot fail"),
            ),
            (false, true) => (
                Status::Pass,
                "blocked".into(),
                format!("{killed}; nothing survived"),
            ),
            (false, false) => fail("ESCAPED", format!("{killed}; host: {}", seen.join("; "))),
        };
    }
    let verdict = verdict_line(&ran.stdout);
    let stderr_tail = || {
        let t = ran.stderr.trim();
        let tail: String = t.lines().rev().take(2).collect::<Vec<_>>().join(" | ");
        if tail.is_empty() {
            "no stderr".to_string()
        } else {
            tail
        }
    };
    if side.is_control() {
        return match verdict {
            Some(("ESCAPED", line)) => {
                if attempt.evidence.is_empty() || !seen.is_empty() {
                    let host = if seen.is_empty() {
                        String::new()
                    } else {
                        format!(" [host: {}]", seen.join("; "))
                    };
                    (Status::Pass, "escaped".into(), format!("{line}{host}"))
                } else {
                    fail(
                        "escaped?",
                        format!("{line}, but the host saw nothing: the evidence check is broken"),
                    )
                }
            }
            Some(("SENT", line)) if !seen.is_empty() => (
                Status::Pass,
                "escaped".into(),
                format!("{line} [host: {}]", seen.join("; ")),
            ),
            Some(("SENT", line)) => fail(
                "sent",
                format!("{line}, but the host saw nothing arrive or survive"),
            ),
            Some(("BLOCKED", line)) if line.contains("inconclusive:") => (
                Status::Skip,
                "skip".into(),
                format!("the kernel refuses this user anyway: {line}"),
            ),
            Some(("SKIP", line)) => (Status::Skip, "skip".into(), line.to_string()),
            Some((word, line)) => fail(
                &word.to_lowercase(),
                format!("the control must escape so the check can fail: {line}"),
            ),
            None => fail(
                "no verdict",
                format!(
                    "status {:?} signal {:?}: {}",
                    ran.status,
                    ran.signal,
                    stderr_tail()
                ),
            ),
        };
    }
    if !seen.is_empty() {
        return fail("ESCAPED", format!("host evidence: {}", seen.join("; ")));
    }
    match verdict {
        Some(("BLOCKED" | "SENT", line)) => (Status::Pass, "blocked".into(), line.to_string()),
        Some(("ESCAPED", line)) => fail("ESCAPED", line.to_string()),
        Some(("SKIP", line)) => (Status::Skip, "skip".into(), line.to_string()),
        Some((_, line)) => fail("error", format!("{line} ({})", stderr_tail())),
        None => {
            let forced = attempt
                .forced_stops
                .iter()
                .find(|(code, _)| ran.status == Some(*code));
            match forced {
                Some((code, what)) => (
                    Status::Pass,
                    "stopped".into(),
                    format!(
                        "exit {code}: {what} after {:.1} s",
                        ran.elapsed.as_secs_f64()
                    ),
                ),
                None => fail(
                    "no verdict",
                    format!("status {:?}: {}", ran.status, stderr_tail()),
                ),
            }
        }
    }
}
