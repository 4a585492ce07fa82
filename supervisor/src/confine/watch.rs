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

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

/// The filter: another architecture's calls are allowed here (the deny-list kills them), each
/// watched number notifies, everything else is allowed.
pub fn program() -> Vec<libc::sock_filter> {
    let mut p = vec![
        stmt(BPF_LD_W_ABS, ARCH_OFFSET),
        jeq(AUDIT_ARCH, 1, 0),
        stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW),
        stmt(BPF_LD_W_ABS, NR_OFFSET),
    ];
    let n = WATCHED.len();
    for (i, nr) in WATCHED.iter().enumerate() {
        // On a match jump to the NOTIF return after the last comparison; else the next one.
        let to_notify = (n - i) as u8;
        p.push(jeq(*nr as u32, to_notify, 0));
    }
    p.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(BPF_RET_K, libc::SECCOMP_RET_USER_NOTIF));
    p
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
    let filter = program();
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
    fn every_watched_call_jumps_to_the_notify_return() {
        let p = program();
        let notify = p.len() - 1;
        assert_eq!(p[notify].k, libc::SECCOMP_RET_USER_NOTIF);
        for (i, ins) in p.iter().enumerate().skip(4).take(WATCHED.len()) {
            assert_eq!(i + 1 + ins.jt as usize, notify);
            assert_eq!(ins.jf, 0);
        }
        assert_eq!(p[notify - 1].k, libc::SECCOMP_RET_ALLOW);
    }
}
