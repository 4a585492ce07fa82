//! Process-level privileges: parent-death signals, the session, capabilities and no_new_privs.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use caps::CapSet;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getppid, setsid};

use super::{ConfineError, Step};

/// Die with SIGKILL when the parent dies. With `expected_parent`, also check it has not died
/// already (the race between fork and prctl). pid 1's parent lives outside its pid namespace,
/// where getppid() says 0 either way: pid 1 checks with [`supervisor_alive`] instead.
pub fn die_with_parent(expected_parent: Option<i32>) -> Result<(), ConfineError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| ConfineError::os(Step::ParentDeathSignal, e, "PR_SET_PDEATHSIG"))?;
    if let Some(expected) = expected_parent
        && getppid() != Pid::from_raw(expected)
    {
        return Err(ConfineError::other(
            Step::ParentDeathSignal,
            "parent exited before the sandbox was set up",
        ));
    }
    Ok(())
}

/// The supervisor still holds its end of the control socket, so it is alive: had it died
/// before our parent-death signal was armed, the kernel would have closed that end (a process's
/// files are closed before its children are reparented) and the socket would report a hang-up.
/// Any later death is covered by the signal.
pub fn supervisor_alive(control: &UnixStream) -> Result<(), ConfineError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // POLLHUP is reported whatever was asked for: the peer's end is closed.
    let mut fds = [PollFd::new(control.as_fd(), PollFlags::empty())];
    poll(&mut fds, PollTimeout::ZERO)
        .map_err(|e| ConfineError::os(Step::ParentDeathSignal, e, "poll the control socket"))?;
    if fds[0]
        .revents()
        .is_some_and(|r| r.contains(PollFlags::POLLHUP))
    {
        return Err(ConfineError::other(
            Step::ParentDeathSignal,
            "the supervisor exited before the sandbox was set up",
        ));
    }
    Ok(())
}

/// A new session: the workload has no controlling terminal to inject keystrokes into or to
/// receive job-control signals from.
pub fn new_session() -> Result<(), ConfineError> {
    setsid()
        .map(|_| ())
        .map_err(|e| ConfineError::os(Step::Session, e, "setsid"))
}

fn last_os_errno() -> Option<i32> {
    std::io::Error::last_os_error().raw_os_error()
}

/// Empty the bounding set (needs CAP_SETPCAP, still effective), so no execve can ever grant a
/// capability again. Also caps newer than the `caps` crate knows are dropped, by number. The
/// set is inherited: pid 1 drops it once, before it forks the workload; what pid 1 can do
/// itself (its effective set) is unchanged.
pub fn drop_bounding_set() -> Result<(), ConfineError> {
    // Every capability the kernel knows, newer ones than this build included: the numbers are
    // contiguous, and the first one past the kernel's last is refused with EINVAL.
    for cap in 0..=63u64 {
        // SAFETY: PR_CAPBSET_DROP takes an integer and touches no memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            if last_os_errno() == Some(libc::EINVAL) && cap > 0 {
                break;
            }
            return Err(ConfineError {
                step: Step::Capabilities,
                errno: last_os_errno(),
                detail: format!("PR_CAPBSET_DROP {cap}"),
            });
        }
    }
    Ok(())
}

/// Drop every capability this process holds: ambient and inheritable, then effective and
/// permitted. The bounding set is already empty ([`drop_bounding_set`], in pid 1).
pub fn drop_capabilities() -> Result<(), ConfineError> {
    let fail = |set: &str, e: caps::errors::CapsError| ConfineError {
        step: Step::Capabilities,
        errno: last_os_errno(),
        detail: format!("clear {set} set: {e}"),
    };
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("ambient", e))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| fail("inheritable", e))?;
    caps::clear(None, CapSet::Effective).map_err(|e| fail("effective", e))?;
    caps::clear(None, CapSet::Permitted).map_err(|e| fail("permitted", e))?;
    Ok(())
}

/// no_new_privs: execve can never grant privileges again (setuid bits, file capabilities).
pub fn no_new_privs() -> Result<(), ConfineError> {
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| ConfineError::os(Step::NoNewPrivs, e, "PR_SET_NO_NEW_PRIVS"))
}

/// Not dumpable: other processes of the same uid cannot ptrace us or read /proc/<pid>/mem or
/// environ. Used for pid 1, which holds the plan.
pub fn not_dumpable() -> Result<(), ConfineError> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| ConfineError::os(Step::NotDumpable, e, "PR_SET_DUMPABLE"))
}

/// Leave the caller's process group: a terminal's Ctrl-C then reaches only the supervisor, which
/// forwards it once, instead of reaching pid 1 and the workload separately.
pub fn own_process_group() -> Result<(), ConfineError> {
    nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))
        .map_err(|e| ConfineError::os(Step::ProcessGroup, e, "setpgid(0, 0)"))
}
