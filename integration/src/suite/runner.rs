//! Running the suite: the scratch directory every user can reach, the profiles under test as
//! they resolve, and each cell (fixtures, the probe unsandboxed or under `missy-sandbox exec`,
//! the host's evidence), a bounded number at a time.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::host::{self, CellDir, Evidence, Ran};
use super::model::*;
use super::{judge, scenarios};

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
        .map(|p| load_profile(&sandbox, p, &scratch.path, config.mode))
        .collect::<Result<Vec<_>, _>>()?;
    let env = Environment {
        kernel: kernel_release(),
        runner_is_root: nix::unistd::geteuid().is_root(),
        device: pick_device(),
        setuid_copy: scratch.setuid_copy(&probe.path),
        probe,
        sandbox: sandbox.clone(),
    };
    let scenarios: Vec<&'static Scenario> = scenarios::catalogue()
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
        mode: config.mode,
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
        mode: config.mode,
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
        // Unique per run, not only per process: the CLI tests run several suites at once in
        // one process, and each removes its directory when it ends.
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("missy-hardening-{}-{run}", std::process::id()));
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
fn load_profile(sandbox: &Path, name: &str, scratch: &Path, mode: Mode) -> Result<Profile, String> {
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
    // Kept in both modes: without namespaces `protect` is degraded, and the planting scenarios
    // escape there as expected (scenarios::nons) rather than go untried.
    let protect = json["protect"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let ws = probe_ws.to_string_lossy().to_string();
    let granted = ["read", "exec", "write"].iter().any(|k| {
        json[*k]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(ws.as_str())))
    });
    let _ = std::fs::remove_dir_all(&probe_ws);
    if granted && mode == Mode::Namespaces {
        return Ok(Profile {
            name: name.to_string(),
            limits,
            reference: name.to_string(),
            wrapper: None,
            protect,
        });
    }
    let file = scratch
        .join("profiles")
        .join(format!("{name}-with-probe.toml"));
    let mut text = format!("# Generated by the hardening suite.\nextends = \"{name}\"\n");
    if !granted {
        // `name` does not grant the workspace, so the probe could not start: this adds
        // exactly that, read-only and executable.
        text.push_str("[filesystem]\nexec = [\"{workspace}\"]\n");
    }
    if mode == Mode::NoNamespaces {
        // Without namespaces a strict profile refuses to run; the suite shows what holds.
        text.push_str("[kernel]\nrequire = \"best-effort\"\n");
    }
    std::fs::write(&file, text).map_err(|e| format!("write {}: {e}", file.display()))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| e.to_string())?;
    Ok(Profile {
        name: name.to_string(),
        limits,
        reference: file.to_string_lossy().to_string(),
        wrapper: (!granted).then_some(file),
        protect,
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
    mode: Mode,
}

/// Longest a single cell may take before it is killed (and fails).
pub(super) const CELL_LIMIT: Duration = Duration::from_secs(120);

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
        if self.mode == Mode::NoNamespaces
            && !matches!(column, Column::Unsandboxed)
            && let Some(why) = scenarios::nons::not_applicable(s.name)
        {
            return skip(format!("not applicable without namespaces: {why}"));
        }
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
        // Unique among concurrent suites too: the scratch directory's name ends in the run.
        let run = self
            .scratch
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit('-').next())
            .unwrap_or("0")
            .to_string();
        let tag = format!("mh{}r{run}x{n}", std::process::id());
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
        if let Ok(ran) = &ran {
            for leak in &attempt.leaks {
                if ran.stdout.contains(leak.as_str()) || ran.stderr.contains(leak.as_str()) {
                    seen.push(format!("the output holds {leak:?}"));
                }
            }
        }
        let mut result = match ran {
            Ok(ran) => judge(side, &ran, &attempt, &seen),
            Err(e) => (Status::Fail, "error".into(), format!("cannot run: {e}")),
        };
        if self.mode == Mode::NoNamespaces
            && !control
            && result.0 == Status::Fail
            && result.1 == "ESCAPED"
            && let Some(why) = scenarios::nons::expected_escape(s.name)
        {
            result = (
                Status::Skip,
                "expected".into(),
                format!("expected without namespaces ({why}): {}", result.2),
            );
        }
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
                let reference = match &attempt.profile_extra {
                    None => profile.reference.clone(),
                    Some(extra) => {
                        let file = dir.file(
                            dir.root.join("profile.toml"),
                            &format!("extends = \"{}\"\n{extra}", profile.reference),
                        )?;
                        file.to_string_lossy().into_owned()
                    }
                };
                let mut c = user.command(&self.sandbox);
                if let Some((k, v)) = self.mode.sandbox_env() {
                    c.env(k, v);
                }
                c.args(["exec", "--profile", &reference, "--workspace"])
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
        // Proxy settings come from the profile under test only (the sandbox sets its own); the
        // control must not inherit the runner's.
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
            cmd.env_remove(var).env_remove(var.to_ascii_lowercase());
        }
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
        let kill = survivor_tag
            .filter(|_| attempt.kill_once_forked)
            .map(|tag| host::Kill { probe, tag });
        host::run_bounded(&mut cmd, CELL_LIMIT, kill)
    }
}
