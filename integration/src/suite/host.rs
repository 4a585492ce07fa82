//! Host-side fixtures and evidence: what a cell sets up outside the sandbox before the probe runs
//! (secret files, listeners, victim processes) and what the host itself observes afterwards,
//! where the probe's own word is not enough.
//!
//! Everything a fixture starts is owned by it and ended on drop: processes by their pid,
//! directories removed.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::User;

/// A process started for the cell (a victim to signal, trace or read); killed and reaped on drop.
#[derive(Debug)]
pub struct HostProcess {
    child: Child,
}

impl HostProcess {
    /// `sleep 300` as `user`, with `env` added; returns once `sleep` itself runs (after
    /// setpriv's exec) and its environment is readable.
    pub fn sleeper(user: User, env: &[(&str, &str)]) -> std::io::Result<HostProcess> {
        let mut c = user.command(Path::new("/bin/sleep"));
        c.arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn()?;
        let proc_dir = Path::new("/proc").join(child.id().to_string());
        let deadline = Instant::now() + Duration::from_secs(5);
        let ready = || {
            std::fs::read_link(proc_dir.join("exe")).is_ok_and(|p| p.ends_with("sleep"))
                && std::fs::read(proc_dir.join("environ")).is_ok_and(|e| !e.is_empty())
        };
        while !ready() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(HostProcess { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running (not exited, not a zombie we have reaped)?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the host watches during an attempt. `seen` answers: did the attempt reach the host?
#[derive(Debug)]
pub enum Evidence {
    /// A TCP listener on the host's loopback: did anyone connect?
    TcpAccept(TcpListener),
    /// A UDP socket on the host's loopback: did a datagram arrive?
    UdpRecv(UdpSocket),
    /// A unix listener (abstract or pathname) on the host: did anyone connect?
    UnixAccept(UnixListener),
    /// A file outside the workspace: was it created?
    FileAppears(PathBuf),
    /// A file the host can see: does it carry the setuid or setgid bit?
    SetuidFile(PathBuf),
    /// A host process: was it killed?
    VictimDies(HostProcess),
    /// Processes whose command line contains this tag: is one still alive after the run?
    Survivor(String),
}

impl Evidence {
    /// `Some(what the host saw)` when the attempt reached the host. `control` is true for the
    /// unsandboxed run, where the host must see it; survivors are then looked for at once,
    /// otherwise after a grace period in which the kernel ends a dying namespace.
    pub fn seen(&mut self, control: bool) -> Option<String> {
        match self {
            Evidence::TcpAccept(l) => l.accept().ok().map(|(_, peer)| {
                format!("the host TCP listener accepted a connection from {peer}")
            }),
            Evidence::UdpRecv(s) => {
                let mut buf = [0u8; 256];
                // The datagram was sent before the probe exited; allow a moment for delivery.
                for _ in 0..10 {
                    if let Ok((n, peer)) = s.recv_from(&mut buf) {
                        return Some(format!(
                            "the host UDP socket received {n} bytes from {peer}"
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                None
            }
            Evidence::UnixAccept(l) => l
                .accept()
                .ok()
                .map(|_| "the host unix listener accepted a connection".to_string()),
            Evidence::FileAppears(p) => p
                .exists()
                .then(|| format!("{} appeared on the host", p.display())),
            Evidence::SetuidFile(p) => {
                use std::os::unix::fs::MetadataExt;
                let mode = std::fs::symlink_metadata(&*p).ok()?.mode();
                (mode & 0o6000 != 0)
                    .then(|| format!("{} is setuid/setgid on the host", p.display()))
            }
            Evidence::VictimDies(v) => {
                // Up to 5 s: a loaded host may take that long to end a killed process.
                for _ in 0..250 {
                    if !v.alive() {
                        return Some(format!("host process {} was killed", v.pid()));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                None
            }
            Evidence::Survivor(tag) => {
                let grace = if control {
                    Duration::from_millis(300)
                } else {
                    Duration::from_secs(10)
                };
                // Unsandboxed, the survivor is expected: a loaded host may take a moment to
                // show it (the probe reports its pid before the daemon has settled), so look
                // again within the grace period before calling it absent. Sandboxed, it is
                // expected gone: give the kernel's teardown the grace period to finish.
                let start = Instant::now();
                loop {
                    let found = processes_tagged(tag);
                    if found.is_empty() {
                        if control && start.elapsed() < grace {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                        return None;
                    }
                    if control || start.elapsed() >= grace {
                        let pids: Vec<String> = found.iter().map(ToString::to_string).collect();
                        return Some(format!(
                            "still running after the run ended: pid {}",
                            pids.join(",")
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// End anything this evidence found that the cell started (survivors are killed by pid).
    pub fn cleanup(&mut self) {
        if let Evidence::Survivor(tag) = self {
            for pid in processes_tagged(tag) {
                // SAFETY: kill takes plain integers; the pid was started by this cell's probe
                // (its command line carries the cell's unique tag).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Live processes whose command line contains `tag` (zombies have an empty command line).
pub fn processes_tagged(tag: &str) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    let me = std::process::id() as i32;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let mut cmdline = Vec::new();
        let ok = std::fs::File::open(entry.path().join("cmdline"))
            .and_then(|mut f| f.read_to_end(&mut cmdline))
            .is_ok();
        if ok && cmdline.windows(tag.len()).any(|w| w == tag.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// A directory for one cell: `ws/` (the workspace) and `outside/` (host files the sandbox must
/// not reach), both owned by the cell's user; removed on drop.
#[derive(Debug)]
pub struct CellDir {
    pub root: PathBuf,
    pub ws: PathBuf,
    pub outside: PathBuf,
    user: User,
}

impl CellDir {
    pub fn new(parent: &Path, name: &str, user: User) -> std::io::Result<CellDir> {
        let root = parent.join(name);
        let ws = root.join("ws");
        let outside = root.join("outside");
        for d in [&root, &ws, &outside] {
            std::fs::create_dir_all(d)?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
            user.chown(d)?;
        }
        Ok(CellDir {
            root,
            ws,
            outside,
            user,
        })
    }

    /// A file owned by the cell's user, mode 0644.
    pub fn file(&self, path: PathBuf, content: &str) -> std::io::Result<PathBuf> {
        std::fs::write(&path, content)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        self.user.chown(&path)?;
        Ok(path)
    }
}

impl Drop for CellDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What a run returned: the exit status (None when killed by a signal: see `signal`) and what
/// it wrote.
#[derive(Debug)]
pub struct Ran {
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// With a purposeful kill: had the probe forked when it was killed (false: killed when
    /// [`KILL_WAIT`] ran out without that)? None when the run ended first.
    pub forked_at_kill: Option<bool>,
}

/// A purposeful kill (see [`run_bounded`]) waits at most this long for the probe to fork: the
/// sandbox may take seconds to start on a loaded host.
pub const KILL_WAIT: Duration = Duration::from_secs(30);

/// The probe whose fork a purposeful kill waits for: the name it runs under and a tag in its
/// command line.
#[derive(Debug, Clone, Copy)]
pub struct Kill<'a> {
    pub probe: &'a str,
    pub tag: &'a str,
}

impl Kill<'_> {
    /// Has the probe forked: do two live processes of that name (the probe and its child)
    /// carry the tag? The supervisor's command line carries it too, so the name tells them apart.
    fn forked(&self) -> bool {
        // /proc/PID/comm holds the first 15 bytes of the executable's name.
        let name = &self.probe.as_bytes()[..self.probe.len().min(15)];
        processes_tagged(self.tag)
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.strip_suffix(b"\n").unwrap_or(&c) == name)
            })
            .count()
            >= 2
    }
}

/// Spawn `cmd` and wait for it for at most `limit`; kill it (by pid) past that.
///
/// `kill`: SIGKILL the process (by its pid) on purpose once the probe has forked, or when
/// [`KILL_WAIT`] runs out first (noted in `forked_at_kill`); the scenario checks what survives
/// its death. The run then counts as finished, not hung.
pub fn run_bounded(
    cmd: &mut Command,
    limit: Duration,
    kill: Option<Kill<'_>>,
) -> std::io::Result<Ran> {
    use std::os::unix::process::ExitStatusExt;
    use std::sync::{Arc, Mutex};
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    // Readers on their own threads: a process that outlives the run may hold the pipes open,
    // so the output is taken when the run ends, not at end-of-file.
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(Mutex::new(false));
        if let Some(mut p) = pipe {
            let (b, d) = (Arc::clone(&buf), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = p.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut g) = b.lock() {
                        g.extend_from_slice(&chunk[..n]);
                    }
                }
                if let Ok(mut g) = d.lock() {
                    *g = true;
                }
            });
        } else if let Ok(mut g) = done.lock() {
            *g = true;
        }
        (buf, done)
    };
    let out = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let mut forked_at_kill = None;
    // Looking for the fork reads all of /proc: every 20 ms, not at every turn.
    let mut next_look = start;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Some(k) = kill
            && Instant::now() >= next_look
        {
            next_look = Instant::now() + Duration::from_millis(20);
            let forked = k.forked();
            if forked || start.elapsed() >= KILL_WAIT {
                forked_at_kill = Some(forked);
                let _ = child.kill();
                break child.wait()?;
            }
        }
        if start.elapsed() >= limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    // Up to 5 s for the readers to drain the pipes on a loaded host (a survivor holding them
    // open makes that the whole wait).
    let settle = Instant::now() + Duration::from_secs(5);
    let finished = |d: &Arc<Mutex<bool>>| d.lock().map(|g| *g).unwrap_or(true);
    while !(finished(&out.1) && finished(&err.1)) && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(2));
    }
    let text = |b: &Arc<Mutex<Vec<u8>>>| {
        b.lock()
            .map(|g| String::from_utf8_lossy(&g).into_owned())
            .unwrap_or_default()
    };
    Ok(Ran {
        status: status.code(),
        signal: status.signal(),
        stdout: text(&out.0),
        stderr: text(&err.0),
        timed_out,
        elapsed,
        forked_at_kill,
    })
}

/// MemAvailable from /proc/meminfo, in bytes.
pub fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Free bytes on the filesystem holding `path`.
pub fn disk_available(path: &Path) -> Option<u64> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    Some(v.blocks_available() * v.fragment_size())
}
