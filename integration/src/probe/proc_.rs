//! Reaching other processes: ptrace, cross-memory reads and signals to host processes.
//!
//! Children the probe forks for its own attempts are [`PausingChild`]ren: killed and reaped on
//! every path, and killed by the kernel (`PR_SET_PDEATHSIG`) if the probe dies first.

use std::io::IoSliceMut;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use super::sys::{self, PausingChild};
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "ptrace-child",
        args: &[],
        about: "fork a child and PTRACE_SEIZE it",
        run: ptrace_child,
    },
    Probe {
        name: "ptrace",
        args: &["PID"],
        about: "PTRACE_SEIZE process PID (detached again)",
        run: ptrace_pid,
    },
    Probe {
        name: "process-vm-readv",
        args: &[],
        about: "read a forked child's memory with process_vm_readv",
        run: vm_readv,
    },
    Probe {
        name: "kill",
        args: &["PID"],
        about: "send SIGTERM to process PID",
        run: kill_pid,
    },
];

/// ptrace(PTRACE_SEIZE, pid, 0, 0) as a raw syscall (no glibc PEEK* special-casing).
fn seize(pid: Pid) -> Result<(), Errno> {
    // SAFETY: PTRACE_SEIZE takes no pointers (addr and data are 0 here).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            libc::PTRACE_SEIZE,
            pid.as_raw(),
            0usize,
            0usize,
        )
    };
    sys::syscall_result(ret).map(drop)
}

fn ptrace_child(_: &Args) -> ProbeResult {
    let child = PausingChild::spawn()
        .map_err(|e| Outcome::error(format!("fork errno={}", sys::errno_name(e))))?;
    // Dropping `child` kills it, which also ends the trace.
    seize(child.pid()).map_err(|e| Outcome::denied("ptrace(PTRACE_SEIZE, own child)", e))?;
    Ok(Outcome::escaped(format!(
        "PTRACE_SEIZE of own child {} succeeded",
        child.pid()
    )))
}

fn ptrace_pid(a: &Args) -> ProbeResult {
    let pid = positive_pid(a)?;
    seize(pid).map_err(|e| {
        Outcome::denied(format!("ptrace(PTRACE_SEIZE, {pid})"), e).note(yama_note(e))
    })?;
    let how = match release(pid) {
        Ok(()) => "detached".to_string(),
        Err(e) => format!(
            "detach errno={}; released when the probe exits",
            sys::errno_name(e)
        ),
    };
    Ok(Outcome::escaped(format!(
        "PTRACE_SEIZE of {pid} succeeded ({how})"
    )))
}

/// Yama (`kernel.yama.ptrace_scope` >= 1) refuses to trace a process that is not a descendant
/// unless the tracer holds CAP_SYS_PTRACE: the kernel's own EPERM.
fn yama_note(e: Errno) -> Option<String> {
    if e != Errno::EPERM {
        return None;
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope").ok()?;
    if scope.trim() == "0" {
        return None;
    }
    sys::inconclusive_without(sys::CAP_SYS_PTRACE, "CAP_SYS_PTRACE", true)
        .map(|n| format!("{n} (kernel.yama.ptrace_scope={})", scope.trim()))
}

/// Detach a seized, running tracee. PTRACE_DETACH needs a ptrace-stop, so interrupt it first and
/// wait for the stop (a tracer may wait for a tracee that is not its child). Should any step
/// fail, the kernel still detaches every tracee when the tracer exits (exit_ptrace).
fn release(pid: Pid) -> Result<(), Errno> {
    // SAFETY: PTRACE_INTERRUPT and PTRACE_DETACH (data 0: no signal) take no pointers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            libc::PTRACE_INTERRUPT,
            pid.as_raw(),
            0usize,
            0usize,
        )
    };
    sys::syscall_result(ret)?;
    waitpid(pid, Some(WaitPidFlag::__WALL))?;
    // SAFETY: as above.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            libc::PTRACE_DETACH,
            pid.as_raw(),
            0usize,
            0usize,
        )
    };
    sys::syscall_result(ret).map(drop)
}

/// A marker at a fixed address: after fork the child has it at the same address.
static MARKER: [u8; 16] = *b"missy-probe-vm!\n";

fn vm_readv(_: &Args) -> ProbeResult {
    let child = PausingChild::spawn()
        .map_err(|e| Outcome::error(format!("fork errno={}", sys::errno_name(e))))?;
    let mut buf = [0u8; 16];
    let remote = [RemoteIoVec {
        base: MARKER.as_ptr() as usize,
        len: MARKER.len(),
    }];
    let n = process_vm_readv(child.pid(), &mut [IoSliceMut::new(&mut buf)], &remote)
        .map_err(|e| Outcome::denied("process_vm_readv(own child)", e))?;
    let matched = if buf[..n] == MARKER[..n] && n > 0 {
        "marker matched"
    } else {
        "marker did not match"
    };
    Ok(Outcome::escaped(format!(
        "read {n} bytes of child {} ({matched})",
        child.pid()
    )))
}

/// PID argument that is a real process id: 0 and negative values address process groups (or
/// every process) in kill() and are refused.
fn positive_pid(a: &Args) -> Result<Pid, Outcome> {
    let pid: i32 = a.parse(0)?;
    if pid <= 0 {
        return Err(a.usage_error("PID must be a positive process id"));
    }
    Ok(Pid::from_raw(pid))
}

fn kill_pid(a: &Args) -> ProbeResult {
    let pid = positive_pid(a)?;
    kill(pid, Signal::SIGTERM).map_err(|e| Outcome::denied(format!("kill({pid}, SIGTERM)"), e))?;
    Ok(Outcome::escaped(format!("kill({pid}, SIGTERM) returned 0")))
}
