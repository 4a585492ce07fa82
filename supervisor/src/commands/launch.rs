//! How `run_spec` gets its sandbox's pid 1: cloned on the spot (the CLI), or taken from a
//! [`Prestarted`] one that a `serve` launcher cloned before the request arrived, so that the
//! namespaces (the network namespace is the slowest) are ready when the run is asked for.
//!
//! pid 1 takes fd 0 as the workload's stdin at the clone. A pid 1 prestarted by `serve` is
//! cloned before the run's stdin exists, so it gets a pipe, and the run's stdin is copied into
//! it. The CLI's `exec` prestarts its pid 1 too, from `main`, before its arguments are parsed
//! ([`Prestarted::for_this_process`]): pid 1 then creates its namespaces and the base of its
//! root while the command line is parsed and the profile loaded and compiled, and takes this
//! process's own stdin.
//!
//! A pid 1 prestarted by `serve` may also have been built ahead (`server::prebuilt`): its Plan
//! sent, its root built, its cgroups made, for a profile and workspace. [`pid1`] takes it only
//! for a run that fits it exactly, and [`compile`] then adds the run's command to the Plan it
//! was built from instead of compiling one.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::init::Pid1Start;
use crate::kernel::KernelFeatures;
use crate::plan::{self, Compiled, Invocation, PlanError};
use crate::policy::Policy;
use crate::secrets::relay;
use crate::server::prebuilt::{self, Fingerprint};
use crate::spawn::{self, LaunchError, Pending};

/// A pid 1 cloned ahead of its run, waiting for its Plan.
#[derive(Debug)]
pub struct Prestarted {
    pending: Pending,
    stdio: relay::Stdio,
    /// How it was cloned: with namespaces (not on the no-namespace path), with a network one.
    namespaces: bool,
    new_netns: bool,
    /// The write end of pid 1's stdin pipe; None when pid 1 took this process's own fd 0.
    stdin_feed: Option<OwnedFd>,
    /// What its sandbox was built for, when it was built ahead.
    ahead: Option<Ahead>,
}

/// What a sandbox built ahead was built for: a run must match all of it.
#[derive(Debug)]
pub struct Ahead {
    /// `prebuilt::policy_key` of the policy compiled.
    pub policy: Vec<u8>,
    pub workspace: std::path::PathBuf,
    pub cwd: std::path::PathBuf,
    pub fingerprint: Fingerprint,
}

fn dup_onto(fd: &OwnedFd, target: i32) -> std::io::Result<()> {
    // SAFETY: dup2 onto one of our own standard fds; the caller is single-threaded.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Prestarted {
    /// Clone a pid 1 with a new network namespace (what every profile but `mode = "host"`
    /// asks for). Call single-threaded, with fds 1 and 2 not a terminal (the channels are then
    /// pipes): this process's fd 0 becomes the read end of pid 1's stdin pipe.
    pub fn start() -> Result<Prestarted, String> {
        let (read, stdin_feed) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| format!("stdin pipe: {e}"))?;
        dup_onto(&read, 0).map_err(|e| format!("stdin pipe: {e}"))?;
        drop(read);
        Prestarted::clone_pid1(Some(stdin_feed))
    }

    /// Clone the pid 1 of this process's own run (`exec`) before its profile is loaded: it
    /// takes this process's stdin, stdout and stderr as the CLI's fresh clone would. Guessed
    /// with a network namespace; a `mode = "host"` profile discards it and clones afresh
    /// ([`pid1`]). Call single-threaded.
    pub fn for_this_process() -> Result<Prestarted, String> {
        Prestarted::clone_pid1(None)
    }

    fn clone_pid1(stdin_feed: Option<OwnedFd>) -> Result<Prestarted, String> {
        let mut stdio = relay::Stdio::new().map_err(|e| format!("output channels: {e}"))?;
        let namespaces = crate::kernel::KernelFeatures::user_namespaces().is_ok();
        let start = crate::init::Pid1Start {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            namespaces,
            new_netns: namespaces,
            stdio: stdio.child_fds(),
        };
        let pending = spawn::start(start).map_err(|e| e.to_string())?;
        stdio.close_child_ends();
        // The clone may have fallen back to the no-namespace path (`spawn::start`).
        let namespaces = crate::kernel::KernelFeatures::user_namespaces().is_ok();
        Ok(Prestarted {
            pending,
            stdio,
            namespaces,
            new_netns: namespaces,
            stdin_feed,
            ahead: None,
        })
    }

    /// Kill the waiting pid 1.
    pub fn abort(self) {
        self.pending.abort();
    }

    /// Cloned as a run of this start would clone it.
    pub fn fits_start(&self, start: &Pid1Start) -> bool {
        self.new_netns == start.new_netns && self.namespaces == start.namespaces
    }

    /// Whether its sandbox was built ahead (a Plan is on its way).
    pub fn is_built_ahead(&self) -> bool {
        self.ahead.is_some()
    }

    /// Send pid 1 the Plan `compiled` ahead of its run (`Pending::stage`); None if pid 1 is
    /// lost.
    pub fn stage(self, compiled: Compiled, ahead: Ahead) -> Option<Prestarted> {
        let pending = self.pending.stage(compiled, 0).ok()?;
        Some(Prestarted {
            pending,
            ahead: Some(ahead),
            ..self
        })
    }
}

/// The run's output channels and its cloned pid 1: `prestarted` when it fits the policy (its
/// stdin then fed from `stdin`, on a thread), else a fresh clone (which takes `stdin` as its
/// fd 0, or this process's own when there is none). One built ahead is taken only by a run
/// that fits it (`prebuilt::fits`).
pub fn pid1(
    policy: &Policy,
    inv: &Invocation,
    prestarted: Option<Prestarted>,
    stdin: Option<OwnedFd>,
) -> std::io::Result<(relay::Stdio, Result<Pending, LaunchError>)> {
    let fresh = crate::plan::pid1_start(policy);
    match prestarted {
        Some(pre)
            if pre.fits_start(&fresh)
                && pre
                    .ahead
                    .as_ref()
                    .is_none_or(|a| prebuilt::fits(a, policy, inv)) =>
        {
            tracing::debug!(built_ahead = pre.ahead.is_some(), "prestarted pid 1 taken");
            match (stdin, pre.stdin_feed) {
                (Some(from), Some(to)) => feed(from, to),
                // Nothing to copy, or pid 1 already has this process's own fd 0.
                (None, _) => {}
                (Some(_), None) => {
                    pre.pending.abort();
                    return Err(std::io::Error::other(
                        "a pid 1 prestarted on this process's stdin cannot take another",
                    ));
                }
            }
            return Ok((pre.stdio, Ok(pre.pending)));
        }
        Some(pre) => {
            tracing::debug!(
                built_ahead = pre.ahead.is_some(),
                "prestarted pid 1 does not fit the run"
            );
            pre.abort()
        }
        None => {}
    }
    if let Some(from) = &stdin {
        dup_onto(from, 0)?;
    }
    drop(stdin);
    let mut stdio = relay::Stdio::new()?;
    let mut start = fresh;
    start.stdio = stdio.child_fds();
    // pid 1 starts now and creates its namespaces while the Plan is compiled.
    let cloned = spawn::start(start);
    stdio.close_child_ends();
    Ok((stdio, cloned))
}

/// The run's compiled Plan. For a sandbox built ahead: the Plan it was built from (which
/// `pid1` checked the run fits) with the run's command and environment, and the run's wall
/// time. Else compiled now.
pub fn compile(
    pending: &Pending,
    policy: &Policy,
    inv: &Invocation,
) -> Result<Compiled, PlanError> {
    let Some(staged) = pending.staged() else {
        return plan::compile(policy, &KernelFeatures::probe(), inv);
    };
    let mut compiled = staged.compiled.clone();
    let env = plan::env::compile(
        policy,
        &inv.host_env,
        &inv.env_overrides,
        compiled.plan.proxy_port,
    );
    compiled.plan.env = env.vars.into_iter().collect();
    compiled.withheld_env = env.withheld;
    compiled.plan.argv = inv.argv.clone();
    compiled.limits.wall_time = policy.limits.wall_time.map(|d| d.as_std());
    Ok(compiled)
}

/// Copy the run's stdin into a prestarted pid 1's, until end of file (or until nobody reads).
/// Input already complete and small enough for the empty pipe (the daemon writes such input
/// before the run) is copied here; anything else on a thread.
fn feed(from: OwnedFd, to: OwnedFd) {
    let mut head = vec![0u8; 4096];
    let read = already_written(&from, &mut head);
    if let Some(n) = read
        && n < head.len()
    {
        // All of it, in hand. Cannot block: the pipe is empty and holds PIPE_BUF bytes.
        let _ = nix::unistd::write(&to, &head[..n]);
        return;
    }
    head.truncate(read.unwrap_or(0));
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut from = std::fs::File::from(from);
            let mut to = std::fs::File::from(to);
            let _ = std::io::Write::write_all(&mut to, &head);
            let _ = std::io::copy(&mut from, &mut to);
        });
}

/// When every writer of `from` is gone already, read what it holds into `buf` without
/// waiting and say how much (all of it, if less than `buf`'s length); None when more may still
/// come (nothing was read then).
fn already_written(from: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    let mut fds = [nix::poll::PollFd::new(
        from.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let hung_up = nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok()
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(nix::poll::PollFlags::POLLHUP));
    if !hung_up {
        return None;
    }
    // A read error leaves the copy to the thread, which meets the same error.
    nix::unistd::read(from, buf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_copied_at_once_only_when_it_is_all_there() {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        nix::unistd::write(&write, b"abc").unwrap();
        let mut buf = [0u8; 8];
        // A writer still open: more may come, and nothing is taken.
        assert_eq!(already_written(&read, &mut buf), None);
        drop(write);
        assert_eq!(already_written(&read, &mut buf), Some(3));
        assert_eq!(&buf[..3], b"abc");

        // More than the buffer: the head is taken, the rest left for the thread.
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (to_read, to) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        nix::unistd::write(&write, &[7u8; 5000]).unwrap();
        drop(write);
        feed(read, to);
        let mut copied = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(to_read), &mut copied).unwrap();
        assert_eq!(copied, vec![7u8; 5000]);
    }
}
