//! `exec --broker PROFILES`: the agent process runs confined, and the daemon's protocol is
//! served to it on a private socket, `$MISSY_SANDBOX_SOCKET` inside its sandbox. Each tool run
//! it asks for is a fresh sandbox forked by the broker's own zygote, outside the agent's
//! sandbox (never nested in it), under one of the named profiles only, and with a workspace
//! inside the agent's.
//!
//! The socket lives in a directory of its own (mode 0700) that the agent's sandbox gets as a
//! read-write grant: the mount namespace makes the path exist there, and Landlock (which does
//! not govern connecting to a pathname socket before ABI 9) lets the grant through either way.
//! Every peer of that socket is the agent's sandbox (mapped to the supervisor's uid), so the
//! grant is for any peer, limited to the named profiles.

use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{ForkResult, Pid, fork, getpid};

use super::daemon::{self, Config};
use super::grants::{Grants, Profiles};
use super::zygote::Zygote;

/// The environment variable that names the socket inside the agent's sandbox.
pub const SOCKET_ENV: &str = "MISSY_SANDBOX_SOCKET";

/// Tool runs at once for one agent.
const MAX_RUNS: usize = 8;
const QUEUE: usize = 64;

/// A running broker, stopped by [`Broker::stop`] (and killed with its parent otherwise).
#[derive(Debug)]
pub struct Broker {
    pid: Pid,
    dir: PathBuf,
    pub socket: PathBuf,
}

impl Broker {
    /// Start the broker for `profiles`, tool workspaces confined to `workspace`. Must be called
    /// while the process is single-threaded (it forks).
    pub fn start(
        profiles: Vec<String>,
        workspace: &Path,
        audit_log: Option<&str>,
    ) -> Result<Broker, String> {
        let dir = private_dir()?;
        let socket = dir.join("sandbox.sock");
        let listener = match daemon::bind(&socket) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let config = Config {
            grants: Grants {
                any: Some(Profiles::Only(profiles)),
                ..Grants::default()
            },
            max_runs: MAX_RUNS,
            queue: QUEUE,
            workspace_root: Some(workspace.to_path_buf()),
        };
        let parent = getpid();
        let audit_log = audit_log.map(str::to_string);
        // SAFETY: single-threaded (the caller's contract): the child may run ordinary Rust, and
        // it never returns into the caller.
        match unsafe { fork() } {
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(format!("cannot fork the broker: {e}"))
            }
            Ok(ForkResult::Child) => {
                let code = serve(listener, config, parent, audit_log);
                // SAFETY: ending the forked broker without the agent supervisor's destructors.
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => Ok(Broker {
                pid: child,
                dir,
                socket,
            }),
        }
    }

    /// Stop the broker (its zygote and any tool run still going die with it) and remove the
    /// socket's directory.
    pub fn stop(self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The directory the agent's sandbox must be granted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The broker process: its own zygote, then the daemon on a current-thread runtime.
fn serve(
    listener: std::os::unix::net::UnixListener,
    config: Config,
    parent: Pid,
    audit_log: Option<String>,
) -> i32 {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || nix::unistd::getppid() != parent
    {
        return 1;
    }
    let zygote = match Zygote::start(audit_log) {
        Ok(z) => z,
        Err(e) => {
            crate::commands::report(&format!("broker: {e}"));
            return 1;
        }
    };
    let runtime = match crate::commands::current_thread_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            crate::commands::report(&format!("broker: {e}"));
            return 1;
        }
    };
    match runtime.block_on(daemon::serve(listener, None, config, zygote)) {
        Ok(()) => 0,
        Err(e) => {
            crate::commands::report(&format!("broker: {e}"));
            1
        }
    }
}

/// A fresh directory only this uid can enter: under $XDG_RUNTIME_DIR when there is one, else
/// the temporary directory.
fn private_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "missy-broker-{}-{:x}",
            std::process::id(),
            nanos ^ attempt
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot create a private directory under {}",
        base.display()
    ))
}
