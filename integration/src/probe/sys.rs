//! Small system helpers shared by the probes: errno names, raw-syscall results, capability
//! checks, and a forked child that waits to be killed.
//!
//! The probe never starts a thread, so forking it is safe: the child is a copy of a
//! single-threaded process and no lock can be held by a thread that does not exist there.

use std::io::Write;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

/// Capability numbers from `<linux/capability.h>` used in "the kernel would deny this anyway"
/// notes.
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_MODULE: u32 = 16;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_MKNOD: u32 = 27;

/// The errno's symbolic name (`EPERM`), or `errno<N>` for values this build does not know.
pub fn errno_name(e: Errno) -> String {
    if e == Errno::UnknownErrno {
        format!("errno{}", e as i32)
    } else {
        format!("{e:?}")
    }
}

/// The errno name of an `io::Error` from std (`ETIMEDOUT` for std's own connect timeout,
/// which carries no OS error).
pub fn io_errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_name(Errno::from_raw(n)),
        None if e.kind() == std::io::ErrorKind::TimedOut => "ETIMEDOUT".into(),
        None => format!("{:?}", e.kind()),
    }
}

/// Interpret the return value of `libc::syscall`: negative means failure with `errno` set.
pub fn syscall_result(ret: libc::c_long) -> Result<libc::c_long, Errno> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// A diagnostic line on stderr; never panics (stderr may be closed).
pub fn diag(msg: &str) {
    let _ = writeln!(std::io::stderr(), "missy-probe: {msg}");
}

/// Is capability `cap` in this process's effective set (`CapEff` in /proc/self/status)?
/// `None` when /proc is not readable.
pub fn has_cap(cap: u32) -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let bits = u64::from_str_radix(hex, 16).ok()?;
    Some(bits & (1u64 << cap) != 0)
}

/// Is this process in the initial user namespace (the identity map `0 0 4294967295`)?
pub fn in_initial_userns() -> Option<bool> {
    let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
    let fields: Vec<&str> = map.split_whitespace().collect();
    Some(fields == ["0", "0", "4294967295"])
}

/// Does this process hold `cap` in the initial user namespace, where `capable()` checks it?
/// `Some(false)` means the kernel denies the operation to this caller whatever a sandbox does.
pub fn has_host_cap(cap: u32) -> Option<bool> {
    Some(in_initial_userns()? && has_cap(cap)?)
}

/// The `inconclusive:` note for a denial the kernel gives this caller anyway (see the module doc
/// of `probe`), or `None` when the caller holds `cap` (or it cannot be told).
pub fn inconclusive_without(cap: u32, cap_name: &str, host_ns: bool) -> Option<String> {
    let held = if host_ns {
        has_host_cap(cap)
    } else {
        has_cap(cap)
    };
    let where_ = if host_ns {
        " in the initial user namespace"
    } else {
        ""
    };
    match held {
        Some(false) => Some(format!(
            "inconclusive: the kernel requires {cap_name}{where_}, which this process lacks"
        )),
        _ => None,
    }
}

/// A forked child that does nothing but wait to be killed. Dropping it kills (SIGKILL) and reaps
/// it, so no early return can leave it behind; `PR_SET_PDEATHSIG` covers the probe itself dying.
#[derive(Debug)]
pub struct PausingChild {
    pid: Pid,
}

impl PausingChild {
    pub fn spawn() -> Result<PausingChild, Errno> {
        let parent = getpid();
        // SAFETY: the probe is single-threaded (module doc), so the child is a consistent copy;
        // it only calls prctl, getppid, pause and _exit, all async-signal-safe.
        match unsafe { fork() }? {
            ForkResult::Child => pause_until_killed(parent),
            ForkResult::Parent { child } => Ok(PausingChild { pid: child }),
        }
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }
}

impl Drop for PausingChild {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// The body of a [`PausingChild`]: die with the parent, otherwise sleep until a signal kills us.
fn pause_until_killed(parent: Pid) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // The parent may have died between fork and prctl; then nobody would kill us.
    if getppid() != parent {
        child_exit(0);
    }
    loop {
        nix::unistd::pause();
    }
}

/// End a forked child at once, without unwinding or flushing the parent's copied buffers.
pub fn child_exit(code: i32) -> ! {
    // SAFETY: _exit takes no pointers and never returns; it is the right way out of a forked
    // child (no atexit handlers, no double-flushed stdout).
    unsafe { libc::_exit(code) }
}
