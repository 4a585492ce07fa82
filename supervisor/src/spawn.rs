//! Supervisor side of a launch, in two phases so the sandbox's slow kernel work overlaps the
//! supervisor's own:
//!
//! 1. [`start`]: clone the sandbox's pid 1 straight into a new user and pid namespace (both
//!    cheap to create), started on a CPU other than the supervisor's (`placement`), and write
//!    its id maps. While it creates the other namespaces (the network namespace is the
//!    slowest), the supervisor compiles the Plan.
//! 2. [`Pending::commit`]: send the Plan; while pid 1 builds the root from it, create the run's
//!    cgroups and send pid 1 their `tasks` files (pid 1 waits for them before it forks the
//!    workload, which moves itself in).
//!
//! The clone happens while the supervisor is single-threaded (checked; no async runtime exists
//! yet), so the child may run ordinary Rust. Its code is `init::pid1`, a plain function of the
//! control socket and the Plan.

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;

use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use crate::cgroup::{CgroupError, RunCgroup};
use crate::confine::{ConfineError, Step, namespaces};
use crate::control::{self, ControlError, FromInit, ToInit};
use crate::init::{self, Pid1Start};
use crate::placement;
use crate::plan::{Compiled, Plan};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("cannot create the control socket: {0}")]
    Socket(std::io::Error),
    #[error("cannot reserve a stack for the sandbox init: {0}")]
    Stack(nix::errno::Errno),
    #[error(
        "cannot clone the sandbox init into new user and pid namespaces: {0} ({desc})",
        desc = .0.desc()
    )]
    Clone(nix::errno::Errno),
    #[error(
        "the supervisor is multithreaded; the sandbox init must be cloned before any thread starts"
    )]
    Multithreaded,
    #[error("cannot send the plan to the sandbox init: {0}")]
    Control(#[from] ControlError),
    /// The run was refused before its workload started (its audit record could not be written).
    #[error("{0}")]
    Refused(String),
    /// The init failed before it could take the Plan; its own report of why.
    #[error(transparent)]
    Setup(#[from] ConfineError),
}

/// Stack for the cloned init: it runs on a copy of this region. Large enough for serde, the
/// mount code and the workload's setup; untouched pages cost nothing.
const INIT_STACK: usize = 8 << 20;

/// A sandbox init that exists, in its first namespaces, but has no Plan yet (or, staged,
/// has a Plan without its command).
#[derive(Debug)]
pub struct Pending {
    pid: Pid,
    control: UnixStream,
    namespaces: bool,
    staged: Option<Box<Staged>>,
}

/// What [`Pending::stage`] did ahead of the run: the Plan sent (pid 1 builds the root from it
/// while no one waits) and the run's cgroups made.
#[derive(Debug)]
pub struct Staged {
    /// As compiled and sent, but for argv and environment (the run's command supplies those).
    pub compiled: Compiled,
    /// The Plan sent, as [`bare`] gives it.
    plan: Option<Vec<u8>>,
    cgroup: RunCgroup,
}

/// A started sandbox, not yet waited for.
#[derive(Debug)]
pub struct Launched {
    /// Host pid of the sandbox's pid 1.
    pub pid: Pid,
    /// Supervisor end of the control socket; end-of-file once the workload has exec'd.
    pub control: UnixStream,
    pub cgroup: RunCgroup,
    /// False on the no-namespace path: pid 1 is then an ordinary host process, and killing it
    /// does not end its descendants (`tree::kill_descendants` does).
    pub namespaces: bool,
    /// The run's private /tmp on the no-namespace path; removed when dropped, after the run.
    pub run_tmp: Option<std::sync::Arc<tempfile::TempDir>>,
    /// The egress proxy's listener on the host's loopback (no-namespace path, `mode = "proxy"`).
    pub host_proxy: Option<std::sync::Arc<std::net::TcpListener>>,
}

/// Threads of this process: field 20 of /proc/self/stat (one read of a short line; the fields
/// after the command name, which may hold spaces and parentheses, start at field 3).
fn thread_count() -> Option<usize> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let n = std::fs::File::open("/proc/self/stat")
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(17)?.parse().ok()
}

/// An anonymous mapping for the init's stack with a guard page at its low end, so an overflow
/// faults instead of running into other memory. Unmapped on drop (the child has its own copy).
pub(crate) struct Stack {
    base: std::ptr::NonNull<std::ffi::c_void>,
    len: usize,
}

impl Stack {
    pub(crate) fn new(len: usize) -> Result<Stack, nix::errno::Errno> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect};
        let size = std::num::NonZeroUsize::new(len).ok_or(nix::errno::Errno::EINVAL)?;
        // SAFETY: a fresh private anonymous mapping aliases nothing.
        let base = unsafe {
            mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE | MapFlags::MAP_STACK,
            )?
        };
        let stack = Stack { base, len };
        // SAFETY: the first page of the mapping we own.
        unsafe { mprotect(base, page_size(), ProtFlags::PROT_NONE)? };
        Ok(stack)
    }

    pub(crate) fn usable(&mut self) -> &mut [u8] {
        let guard = page_size();
        // SAFETY: the mapping is `len` bytes, readable and writable above the guard page, and
        // borrowed mutably through `self` only.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().cast::<u8>().add(guard),
                self.len - guard,
            )
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmapping the region this value mapped; nothing else refers to it.
        let _ = unsafe { nix::sys::mman::munmap(self.base, self.len) };
    }
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize)
}

/// Clone the sandbox's pid 1. Must be called from the main thread before any other thread
/// exists (checked): the child is a copy of this process, and its parent-death signal fires
/// when the calling thread exits.
///
/// When the kernel refuses the clone into new user and pid namespaces although the probe saw
/// nothing against it (a container's seccomp policy, an LSM), the refusal is recorded in the
/// kernel features (so the Plan is compiled for the no-namespace path, and a strict profile is
/// refused with the reason) and pid 1 is cloned without namespaces.
pub fn start(how: Pid1Start) -> Result<Pending, LaunchError> {
    match clone_pid1(how) {
        Err(LaunchError::Clone(errno)) if how.namespaces && refusal(errno) => {
            tracing::info!(%errno, "user namespaces refused; launching without namespaces");
            crate::kernel::KernelFeatures::user_namespaces_refused(errno);
            clone_pid1(Pid1Start {
                namespaces: false,
                new_netns: false,
                ..how
            })
        }
        other => other,
    }
}

/// Errors of `clone(CLONE_NEWUSER | CLONE_NEWPID)` that mean "not allowed here" rather than a
/// failure of this launch.
fn refusal(errno: nix::errno::Errno) -> bool {
    use nix::errno::Errno;
    matches!(
        errno,
        Errno::EPERM | Errno::EACCES | Errno::ENOSPC | Errno::EUSERS | Errno::EINVAL
    )
}

fn clone_pid1(how: Pid1Start) -> Result<Pending, LaunchError> {
    if thread_count() != Some(1) {
        return Err(LaunchError::Multithreaded);
    }
    let (ours, theirs) = UnixStream::pair().map_err(LaunchError::Socket)?;
    let mut stack = Stack::new(INIT_STACK).map_err(LaunchError::Stack)?;
    let their_fd = theirs.as_raw_fd();
    let cpus = placement::Inherited::of_this_thread();
    // Runs in the child; it closes the supervisor's end of the socket with every other
    // inherited fd (std keeps 0-2 open, so both ends are at 3 or above).
    let child = Box::new(move || -> isize { init::pid1(their_fd, how, cpus) });
    // User and pid namespaces are created here, in the clone (the child is then pid 1 with
    // every capability in its namespace); the costly ones it creates itself, concurrently.
    // Without user namespaces, none: the child is an ordinary process (`init` no-namespace path).
    let flags = if how.namespaces {
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID
    } else {
        CloneFlags::empty()
    };
    if how.namespaces && crate::kernel::KernelFeatures::simulate_userns_refusal() {
        return Err(LaunchError::Clone(nix::errno::Errno::EPERM));
    }
    // SAFETY: single-threaded (checked above), so the child may allocate and run Rust code;
    // it runs on its own copy of `stack` and never returns into our frames.
    let pid = unsafe { nix::sched::clone(child, stack.usable(), flags, Some(libc::SIGCHLD)) }
        .map_err(LaunchError::Clone)?;
    if let Some(cpus) = cpus {
        cpus.start_apart(pid);
    }
    // The child has its own copies of the stack and of its end of the socket.
    drop(stack);
    drop(theirs);
    let mut pending = Pending {
        pid,
        control: ours,
        namespaces: how.namespaces,
        staged: None,
    };
    if how.namespaces {
        // From outside, while pid 1 creates its network namespace: off its path.
        let mapped = namespaces::write_id_maps(pid, how.uid, how.gid)
            .and_then(|()| {
                control::send(&mut pending.control, &ToInit::IdsMapped).map_err(|e| {
                    ConfineError::other(Step::IdMaps, format!("tell pid 1 its ids are mapped: {e}"))
                })
            })
            .map_err(LaunchError::Setup);
        if let Err(e) = mapped {
            // pid 1's own report, if it failed first (the maps then had no process to go to).
            let reported = pending.kill();
            return Err(reported.map_or(e, LaunchError::Setup));
        }
    }
    Ok(pending)
}

impl Pending {
    /// Send the Plan before the run is asked for (`serve`'s sandboxes built ahead): pid 1
    /// builds the root, the run's cgroups are made and pid 1 is admitted (gets their `tasks`
    /// files, for the workload), while no one waits. `compiled` has no command;
    /// [`Pending::commit`] sends it, as the go.
    pub fn stage(mut self, compiled: Compiled, run_id: u64) -> Result<Pending, LaunchError> {
        let sent = control::send(
            &mut self.control,
            &ToInit::Plan(Box::new(compiled.plan.clone())),
        )
        .map_err(LaunchError::from)
        .and_then(|()| Ok(RunCgroup::create(&compiled.limits, run_id)?))
        .and_then(|cgroup| {
            let tasks = cgroup.tasks_files()?;
            let fds: Vec<_> = tasks.iter().map(|f| f.as_fd()).collect();
            control::send_with_fds(&self.control, &ToInit::Admitted, &fds)?;
            Ok(cgroup)
        });
        match sent {
            Ok(cgroup) => {
                let plan = bare(&compiled.plan);
                self.staged = Some(Box::new(Staged {
                    compiled,
                    plan,
                    cgroup,
                }));
                Ok(self)
            }
            Err(e) => Err(self.kill().map_or(e, LaunchError::Setup)),
        }
    }

    /// The staged Plan, when [`Pending::stage`] sent one.
    pub fn staged(&self) -> Option<&Staged> {
        self.staged.as_deref()
    }

    /// Hand pid 1 the Plan, then (while it builds the root) create the run's cgroups, run
    /// `before_start` (the audit record: a run that cannot be recorded never starts), and let
    /// it go on with the cgroups' `tasks` files, through which the workload moves itself in. On
    /// failure the init is killed and reaped; if it had already failed on its
    /// own, its report is the error. A staged init has its Plan and cgroups and is admitted:
    /// after `before_start` it gets the command, which must be all that `compiled` adds to the
    /// staged Plan (checked).
    pub fn commit(
        mut self,
        mut compiled: Compiled,
        run_id: u64,
        before_start: impl FnOnce() -> Result<(), String>,
    ) -> Result<Launched, LaunchError> {
        let run_tmp = compiled.run_tmp.take();
        let host_proxy = compiled.host_proxy.take();
        let result = match self.staged.take() {
            None => control::send(&mut self.control, &ToInit::Plan(Box::new(compiled.plan)))
                .map_err(LaunchError::from)
                .and_then(|()| Ok(RunCgroup::create(&compiled.limits, run_id)?))
                .and_then(|cgroup| {
                    let tasks = cgroup.tasks_files()?;
                    before_start().map_err(LaunchError::Refused)?;
                    let fds: Vec<_> = tasks.iter().map(|f| f.as_fd()).collect();
                    control::send_with_fds(&self.control, &ToInit::Admitted, &fds)?;
                    Ok(cgroup)
                }),
            Some(staged) => {
                let command = control::Command {
                    argv: std::mem::take(&mut compiled.plan.argv),
                    env: std::mem::take(&mut compiled.plan.env),
                };
                if staged.plan.is_none() || staged.plan != bare(&compiled.plan) {
                    Err(LaunchError::Refused(
                        "the sandbox built ahead does not match the run's plan".into(),
                    ))
                } else {
                    before_start()
                        .map_err(LaunchError::Refused)
                        .and_then(|()| {
                            Ok(control::send(
                                &mut self.control,
                                &ToInit::Command(Box::new(command)),
                            )?)
                        })
                        .map(|()| staged.cgroup)
                }
            }
        };
        match result {
            Ok(cgroup) => Ok(Launched {
                pid: self.pid,
                control: self.control,
                cgroup,
                namespaces: self.namespaces,
                run_tmp,
                host_proxy,
            }),
            // The init's own report of an earlier failure says more than a broken pipe.
            Err(e @ LaunchError::Refused(_)) => {
                self.kill();
                Err(e)
            }
            Err(e) => Err(self.kill().map_or(e, LaunchError::Setup)),
        }
    }

    /// Kill and reap the init without starting anything (the Plan could not be compiled).
    pub fn abort(mut self) {
        let _ = self.kill();
    }

    /// Kill and reap the init; the failure it reported, if it did.
    fn kill(&mut self) -> Option<ConfineError> {
        // Before the Admitted message pid 1 has forked nothing; afterwards, on the
        // no-namespace path, its descendants must be ended one by one.
        if !self.namespaces {
            crate::tree::kill_descendants(self.pid.as_raw());
        }
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
        // Every copy of the init's end is closed now, so this read ends.
        let mut reported = Vec::new();
        let _ = std::io::Read::read_to_end(&mut self.control, &mut reported);
        match control::recv::<FromInit>(&mut std::io::Cursor::new(reported)) {
            Ok(Some(FromInit::SetupFailed(failure))) => Some(failure),
            _ => None,
        }
    }
}

/// A Plan as what confines: serialised without its command (argv, environment), so that two
/// Plans that confine alike compare equal.
fn bare(plan: &Plan) -> Option<Vec<u8>> {
    serde_json::to_vec(&Plan {
        argv: Vec::new(),
        env: Vec::new(),
        ..plan.clone()
    })
    .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn thread_count_matches_the_task_directory() {
        // A thread parked while we count, so the count is not just the harness's.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let parked = std::thread::spawn(move || rx.recv());
        let tasks = || std::fs::read_dir("/proc/self/task").unwrap().count();
        // Other tests start and end threads meanwhile: count when the directory held still.
        let counted = (0..1000).find_map(|_| {
            let (before, counted, after) = (tasks(), super::thread_count(), tasks());
            (before == after).then_some((before, counted))
        });
        let (expected, counted) = counted.expect("the thread count never held still");
        assert_eq!(counted, Some(expected));
        drop(tx);
        parked.join().unwrap().unwrap_err();
    }
}
