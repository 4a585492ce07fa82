//! `exec --report` only: a seccomp filter that passes the workload's open/exec/connect calls to
//! the supervisor (SECCOMP_RET_USER_NOTIF) before the kernel runs them. The supervisor reads each
//! call's arguments, records what the profile refuses, and answers CONTINUE: the call then runs
//! exactly as without the filter, under Landlock and the deny-list. Without `--report` nothing
//! here runs and the launch is unchanged.
//!
//! Installed in the workload just before the deny-list, after no_new_privs; the listener fd goes
//! to the supervisor over the control socket (fd 3, still open until execve).

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use super::{ConfineError, Step};
use crate::control::{self, CONTROL_FD, FromInit};
use crate::plan::seccomp::{Arch, watch_program};

/// The calls watched: every way to open or execute a path, and `connect`.
#[cfg(target_arch = "x86_64")]
pub const WATCHED: &[i64] = &[
    libc::SYS_open,
    libc::SYS_creat,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_connect,
];
#[cfg(target_arch = "aarch64")]
pub const WATCHED: &[i64] = &[
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_connect,
];

/// The filter: each watched number notifies, everything else is allowed (another
/// architecture's calls too: the deny-list kills them).
pub fn program() -> Result<Vec<libc::sock_filter>, ConfineError> {
    let arch = Arch::native().ok_or_else(|| {
        ConfineError::other(Step::Seccomp, "no seccomp support for this architecture")
    })?;
    let numbers: Vec<u32> = WATCHED.iter().map(|nr| *nr as u32).collect();
    let program = watch_program(arch, &numbers)
        .map_err(|e| ConfineError::other(Step::Seccomp, e.to_string()))?;
    Ok(program
        .into_iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect())
}

/// Install the filter and send its listener to the supervisor. A kernel or a parent sandbox
/// that refuses the listener (EBUSY: a listener already exists up the filter chain) is not fatal:
/// the supervisor is told why, says in the report that the source was unavailable, and the run
/// goes on confined exactly as without `--report`.
pub fn install_and_hand_over() -> Result<(), ConfineError> {
    // SAFETY: fd 3 is the control socket until execve; ManuallyDrop keeps it open.
    let control = std::mem::ManuallyDrop::new(unsafe {
        std::os::unix::net::UnixStream::from_raw_fd(CONTROL_FD)
    });
    let listener = match install() {
        Ok(fd) => fd,
        Err(failure) => {
            return control::send(&mut &*control, &FromInit::WatchUnavailable(failure))
                .map_err(|e| ConfineError::other(Step::Seccomp, format!("report watch: {e}")));
        }
    };
    control::send_with_fds(&control, &FromInit::WatchListener, &[listener.as_fd()])
        .map_err(|e| ConfineError::other(Step::Seccomp, format!("hand over the watch: {e}")))
    // `listener` closes here; the supervisor holds its own copy.
}

fn install() -> Result<OwnedFd, ConfineError> {
    let filter = program()?;
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `filter`, alive for the call; the kernel copies the program.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(ConfineError::os(
            Step::Seccomp,
            nix::errno::Errno::last(),
            "install the --report watch filter (SECCOMP_FILTER_FLAG_NEW_LISTENER)",
        ));
    }
    // SAFETY: the kernel just returned this fd (close-on-exec) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_calls_notify_and_the_rest_are_allowed() {
        let Some(arch) = Arch::native() else { return };
        let program: Vec<seccompiler::sock_filter> = program()
            .unwrap()
            .into_iter()
            .map(|i| seccompiler::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let verdict = |nr: u32, data_arch: u32| {
            crate::plan::seccomp::interpret(&program, nr, data_arch, [0; 6])
        };
        for nr in 0..1024u32 {
            let expected = if WATCHED.contains(&i64::from(nr)) {
                libc::SECCOMP_RET_USER_NOTIF
            } else {
                libc::SECCOMP_RET_ALLOW
            };
            assert_eq!(verdict(nr, arch.audit_arch()), expected, "nr {nr}");
        }
        assert_eq!(
            verdict(WATCHED[0] as u32, 0x4000_0003),
            libc::SECCOMP_RET_ALLOW,
            "another architecture's calls are the deny-list's business"
        );
    }
}
