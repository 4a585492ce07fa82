//! `missy-sandbox __init`: the confinement sequence, run in a fresh single-threaded process that
//! the supervisor spawned with the control socket as fd 3.
//!
//! ```text
//! __init (monitor)   read plan · die with supervisor · join cgroups · unshare · id maps
//!                    · fork pid 1; then: forward signals, relay pid 1's exit status
//!   pid 1            die with monitor · mounts + pivot_root · hostname · lo up · rlimits
//!                    · fork workload; then: reap, forward signals, relay the workload's status
//!     workload       signals reset · setsid · die with pid 1 · drop caps · no_new_privs
//!                    · Landlock · seccomp · execve
//! ```
//! Every step is one line below; each failure is sent to the supervisor as (step, errno).

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::confine::{
    self, ConfineError, Step, exec, fds, landlock, limits, mounts, namespaces, network, privileges,
};
use crate::control::{self, CONTROL_FD, FromInit, ToInit};
use crate::plan::Plan;

/// Exit status for a sandbox setup failure.
pub const EXIT_SETUP_FAILED: i32 = 125;

/// Signals the monitor and pid 1 pass on to the workload.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Entry point of `missy-sandbox __init` (a re-exec of ourselves with the control socket already
/// at fd 3); never returns.
pub fn main() -> ! {
    // SAFETY: whoever exec'd us placed the control socket at fd 3 and nothing else in this fresh
    // process owns it.
    let mut control = unsafe { UnixStream::from_raw_fd(CONTROL_FD) };
    let Err(failure) = run_outer(&mut control);
    report_and_exit(&mut control, failure)
}

/// Entry point in a child the supervisor forked while it was still single-threaded (no exec):
/// move the control socket to fd 3, then run the same sequence; never returns.
pub fn from_fork(control_fd: i32) -> ! {
    if control_fd != CONTROL_FD {
        // SAFETY: dup2 onto fd 3 in this single-threaded child; fd 3 is not owned by any Rust
        // object here (the supervisor opened nothing it keeps at 3 before forking).
        if unsafe { libc::dup2(control_fd, CONTROL_FD) } < 0 {
            // SAFETY: nothing to clean up in a forked child.
            unsafe { libc::_exit(EXIT_SETUP_FAILED) }
        }
    }
    main()
}

fn report_and_exit(control: &mut UnixStream, failure: ConfineError) -> ! {
    let status = if failure.step == Step::Exec {
        exec::exit_status_for(failure.errno)
    } else {
        EXIT_SETUP_FAILED
    };
    // If the supervisor is gone there is nobody to tell; the exit status still says it.
    let _ = control::send(control, &FromInit::SetupFailed(failure));
    let _ = control.flush();
    // SAFETY: _exit skips atexit handlers and destructors, which must not run in a forked child.
    unsafe { libc::_exit(status) }
}

fn run_outer(control: &mut UnixStream) -> Result<Infallible, ConfineError> {
    fds::close_from(CONTROL_FD as u32 + 1)?;
    let plan = match control::recv::<ToInit>(control) {
        Ok(Some(ToInit::Plan(plan))) => *plan,
        Ok(None) => {
            return Err(ConfineError::other(
                Step::ReadPlan,
                "supervisor closed the control socket",
            ));
        }
        Err(e) => return Err(ConfineError::other(Step::ReadPlan, e.to_string())),
    };
    fds::set_cloexec(CONTROL_FD)?;
    privileges::die_with_parent(plan.supervisor_pid)?;
    privileges::own_process_group()?;
    limits::join_cgroups(&plan.cgroup_tasks)?;
    namespaces::enter(plan.new_netns)?;
    namespaces::write_id_maps(plan.uid, plan.gid)?;
    // After the id maps: a non-dumpable process's /proc/self files belong to root, so an
    // unprivileged `__init` could no longer write its own maps.
    privileges::not_dumpable()?;
    let forwarded = block_signals()?;
    // SAFETY: this process is single-threaded (fresh exec, no threads started), so fork is safe.
    match unsafe { fork() }.map_err(|e| ConfineError::os(Step::ForkPid1, e, "fork pid 1"))? {
        ForkResult::Child => run_pid1(control, &plan, &forwarded),
        ForkResult::Parent { child } => {
            // The monitor holds no part of the sandbox's setup; closing its copy of the control
            // socket lets the supervisor see end-of-file once the workload has exec'd.
            // SAFETY: fd 3 is the control socket; `control` is not used after this in this branch.
            unsafe { libc::close(CONTROL_FD) };
            supervise_child(child, &forwarded, true)
        }
    }
}

fn run_pid1(
    control: &mut UnixStream,
    plan: &Plan,
    forwarded: &SigSet,
) -> Result<Infallible, ConfineError> {
    // The monitor lives outside this pid namespace, where getppid() reports it as 0.
    privileges::die_with_parent(0)?;
    mounts::build_root(&plan.mounts)?;
    namespaces::set_hostname(&plan.hostname)?;
    if plan.new_netns {
        network::loopback_up()?;
    }
    limits::apply(&plan.rlimits)?;
    nix::unistd::chdir(&plan.cwd)
        .map_err(|e| ConfineError::os(Step::Chdir, e, format!("chdir {}", plan.cwd.display())))?;
    // SAFETY: pid 1 is single-threaded: the netlink runtime above was current-thread and is dropped.
    match unsafe { fork() }.map_err(|e| ConfineError::os(Step::ForkWorkload, e, "fork workload"))? {
        ForkResult::Child => {
            let Err(failure) = run_workload(plan);
            report_and_exit(control, failure)
        }
        ForkResult::Parent { child } => {
            // SAFETY: as in the monitor: pid 1 no longer needs the control socket.
            unsafe { libc::close(CONTROL_FD) };
            supervise_child(child, forwarded, false)
        }
    }
}

fn run_workload(plan: &Plan) -> Result<Infallible, ConfineError> {
    reset_signals()?;
    privileges::new_session()?;
    privileges::die_with_parent(1)?;
    privileges::drop_capabilities()?;
    privileges::no_new_privs()?;
    landlock::restrict(&plan.landlock)?;
    let path_var = plan
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let program = exec::resolve(&plan.argv[0], path_var)?;
    let prepared = exec::prepare(&program, &plan.argv, &plan.env)?;
    // Seccomp last: after it, only execve runs.
    confine::seccomp::install(&plan.seccomp)?;
    Err(exec::exec(&prepared))
}

/// Block the signals we forward (and SIGCHLD) so they queue for `sigwait`.
fn block_signals() -> Result<SigSet, ConfineError> {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| ConfineError::os(Step::ForkPid1, e, "block signals"))?;
    Ok(set)
}

/// The workload starts with default signal handling and nothing blocked, whatever the
/// supervisor's runtime had (Rust ignores SIGPIPE, which would otherwise survive execve).
fn reset_signals() -> Result<(), ConfineError> {
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL has no handler to be unsafe about.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| ConfineError::os(Step::Session, e, "unblock signals"))
}

/// Wait for `child`, forwarding signals to it; reap any other child (pid 1 adopts orphans).
/// When `child` ends, exit with its status (a signal N becomes 128+N). When pid 1 exits, the
/// kernel kills everything left in the pid namespace.
fn supervise_child(child: Pid, forwarded: &SigSet, is_monitor: bool) -> ! {
    loop {
        if let Some(code) = reap(child, is_monitor) {
            // SAFETY: exiting without running destructors is what a forked init should do.
            unsafe { libc::_exit(code) }
        }
        match forwarded.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => continue,
            Ok(sig) => {
                // The workload leads its own session and process group: signal the whole group,
                // as a terminal would have.
                if is_monitor || kill(Pid::from_raw(-child.as_raw()), sig).is_err() {
                    let _ = kill(child, sig);
                }
            }
        }
    }
}

/// Reap without blocking; the exit code to relay once `child` has ended.
fn reap(child: Pid, only_child: bool) -> Option<i32> {
    let target = if only_child { child } else { Pid::from_raw(-1) };
    loop {
        match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => return Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => return Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}
