//! Supervisor side of a launch: create the run's cgroups, fork the sandbox's init while the
//! supervisor is still single-threaded (no async runtime exists yet, so the child may run
//! ordinary Rust), then hand it the Plan (with the cgroups to join) over the control socket.
//!
//! The child runs exactly what `missy-sandbox __init` runs (`init::from_fork` → `init::main`):
//! the confinement sequence depends only on the Plan and the control socket, not on how the
//! process started. Forking instead of re-executing saves an exec of this binary per run.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::unistd::{ForkResult, Pid, fork};

use crate::cgroup::{CgroupError, RunCgroup};
use crate::control::{self, ControlError, ToInit};
use crate::plan::Compiled;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("cannot create the control socket: {0}")]
    Socket(std::io::Error),
    #[error("cannot fork the sandbox init: {0}")]
    Fork(nix::errno::Errno),
    #[error(
        "the supervisor is multithreaded; the sandbox init must be forked before any thread starts"
    )]
    Multithreaded,
    #[error("cannot send the plan to the sandbox init: {0}")]
    Control(#[from] ControlError),
}

/// A started sandbox, not yet waited for.
#[derive(Debug)]
pub struct Launched {
    /// pid of the sandbox's outer init (the monitor).
    pub pid: Pid,
    /// Supervisor end of the control socket; end-of-file once the workload has exec'd.
    pub control: UnixStream,
    pub cgroup: RunCgroup,
}

fn thread_count() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Start a sandbox for `compiled`. Must be called before any other thread exists (checked):
/// after fork only the calling thread is copied, and ordinary Rust in the child is safe only
/// when there were no others. The init dies with the calling thread (PR_SET_PDEATHSIG), so
/// call it from the main thread.
pub fn launch(compiled: Compiled, run_id: u64) -> Result<Launched, LaunchError> {
    if thread_count() != Some(1) {
        return Err(LaunchError::Multithreaded);
    }
    let cgroup = RunCgroup::create(&compiled.limits, run_id)?;
    let (mut ours, theirs) = UnixStream::pair().map_err(LaunchError::Socket)?;
    // SAFETY: single-threaded (checked above), so the child may allocate and run Rust code.
    match unsafe { fork() }.map_err(LaunchError::Fork)? {
        ForkResult::Child => {
            drop(ours);
            let fd = OwnedFd::from(theirs);
            let raw = fd.as_raw_fd();
            std::mem::forget(fd);
            crate::init::from_fork(raw)
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            let launched = Launched {
                pid: child,
                control: ours.try_clone().map_err(LaunchError::Socket)?,
                cgroup,
            };
            let mut plan = compiled.plan;
            plan.cgroup_tasks = launched.cgroup.tasks_files();
            let plan = ToInit::Plan(Box::new(plan));
            if let Err(e) = control::send(&mut ours, &plan) {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(e.into());
            }
            Ok(launched)
        }
    }
}
