//! The suite's vocabulary: who runs, what runs, the scenarios, cells and the report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::host::{CellDir, Evidence, HostProcess};

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

impl ProbeProgram {
    /// The `missy-probe` binary at `path`, run through links named after each probe.
    pub fn missy_probe(path: PathBuf) -> ProbeProgram {
        ProbeProgram {
            path,
            prefix: Vec::new(),
            by_link_name: true,
        }
    }
}

/// How the sandboxed cells launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The normal path: new user, mount, pid, network, ipc, uts and cgroup namespaces.
    #[default]
    Namespaces,
    /// As on a host that denies user namespaces: `missy-sandbox` runs with
    /// `MISSY_SANDBOX_CAP_FEATURES=no-userns`, each profile made best-effort. Scenarios listed
    /// in `scenarios::nons` are expected to escape there, and are marked so.
    NoNamespaces,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Namespaces => "namespaces",
            Mode::NoNamespaces => "no-namespace",
        }
    }

    /// The environment `missy-sandbox exec` gets in this mode.
    pub fn sandbox_env(self) -> Option<(&'static str, &'static str)> {
        match self {
            Mode::Namespaces => None,
            Mode::NoNamespaces => Some(("MISSY_SANDBOX_CAP_FEATURES", "no-userns")),
        }
    }
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
    pub mode: Mode,
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
    pub(super) fn max_of(all: &[Profile]) -> Limits {
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
    /// Its `[filesystem] protect` entries, as written (`.git/hooks/`, `.envrc`, ...).
    pub protect: Vec<String>,
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
    /// SIGKILL the process the cell started (the supervisor, or the probe unsandboxed) once the
    /// probe runs and has forked (see [`super::host::run_bounded`]); the cell is then judged on
    /// the host evidence alone.
    pub kill_once_forked: bool,
    /// Host processes the attempt targets; ended with the cell.
    pub victims: Vec<HostProcess>,
    /// Profile text added for the sandboxed run: the cell runs under a generated profile that
    /// extends the column's profile with it (`[network] mode = "proxy"` and its rules).
    pub profile_extra: Option<String>,
    /// Host listeners kept open for the run that are not evidence: destinations the profile
    /// allows, which the probe reaches through the proxy to show the proxy works.
    pub allowed: Vec<std::net::TcpListener>,
    /// Strings that must not appear in the run's stdout or stderr: the host sees the attempt
    /// succeed when one does.
    pub leaks: Vec<String>,
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
    /// The `missy-sandbox` binary every user can run (to build fixtures such as a vault).
    pub sandbox: PathBuf,
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
    /// Set for threats whose target does not exist yet: every cell is a SKIP with this reason.
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
    pub mode: Mode,
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
