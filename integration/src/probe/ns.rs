//! Namespaces and mounts: new user namespaces by unshare, clone and clone3, and tmpfs mounts.
//!
//! The raw `clone`/`clone3` calls pass no stack and no `CLONE_VM`, so they behave like fork():
//! the child runs on its own copy of the address space and immediately `_exit`s.

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statfs::{TMPFS_MAGIC, statfs};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, getegid, geteuid};

use super::sys::{self, CAP_SYS_ADMIN, child_exit};
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "unshare-user",
        args: &[],
        about: "unshare(CLONE_NEWUSER)",
        run: unshare_user,
    },
    Probe {
        name: "clone-newuser",
        args: &[],
        about: "raw clone(CLONE_NEWUSER|SIGCHLD); the child exits at once",
        run: clone_newuser,
    },
    Probe {
        name: "clone3",
        args: &[],
        about: "raw clone3 with a zeroed 88-byte clone_args (exit_signal=SIGCHLD)",
        run: clone3,
    },
    Probe {
        name: "mount",
        args: &["DIR", "[--private-ns]"],
        about: "mount a tmpfs on DIR (--private-ns: in a new mount namespace first)",
        run: mount_tmpfs,
    },
];

fn unshare_user(_: &Args) -> ProbeResult {
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| Outcome::denied("unshare(CLONE_NEWUSER)", e))?;
    Ok(Outcome::escaped("unshare(CLONE_NEWUSER) succeeded"))
}

/// Reap a child created by a raw clone and describe how it ended.
fn reap(pid: libc::c_long) -> String {
    let Ok(raw) = i32::try_from(pid) else {
        return format!("child {pid}");
    };
    match waitpid(Pid::from_raw(raw), None) {
        Ok(WaitStatus::Exited(_, code)) => format!("child {raw} exited {code}"),
        Ok(other) => format!("child {raw}: {other:?}"),
        Err(e) => format!("child {raw}: waitpid errno={}", sys::errno_name(e)),
    }
}

fn clone_newuser(_: &Args) -> ProbeResult {
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: x86_64 clone(flags, newsp, parent_tid, child_tid, tls) with newsp = 0 and no
    // CLONE_VM is fork-like: the child gets a private copy of memory and stack, and only calls
    // _exit below. No pointer arguments are passed.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match sys::syscall_result(ret) {
        Ok(0) => child_exit(0),
        Ok(pid) => Ok(Outcome::escaped(format!(
            "clone(CLONE_NEWUSER) created a process ({})",
            reap(pid)
        ))),
        Err(e) => Err(Outcome::denied("clone(CLONE_NEWUSER)", e)),
    }
}

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

fn clone3(_: &Args) -> ProbeResult {
    const SIZE: usize = std::mem::size_of::<CloneArgs>();
    const _: () = assert!(SIZE == 88);
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: args is a valid clone_args of SIZE bytes that outlives the call; flags are 0 and
    // the stack is 0, so the child is a fork-like copy that only calls _exit below.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, SIZE) };
    match sys::syscall_result(ret) {
        Ok(0) => child_exit(0),
        Ok(pid) => Ok(Outcome::escaped(format!(
            "clone3 created a process ({})",
            reap(pid)
        ))),
        // ENOSYS is how a sandbox denies clone3 (its flags are out of seccomp's reach, so libc
        // falls back to clone, where they can be filtered).
        Err(e) => Err(Outcome::denied("clone3", e)),
    }
}

fn mount_tmpfs(a: &Args) -> ProbeResult {
    let dir = a.get(0)?;
    let private = match a.opt(1) {
        None => false,
        Some("--private-ns") => true,
        Some(other) => return Err(a.usage_error(&format!("unknown option {other:?}"))),
    };
    if private {
        enter_private_mount_ns()?;
    }
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::empty(),
        Some("size=1m,mode=0755"),
    )
    .map_err(|e| {
        // Mounting needs CAP_SYS_ADMIN over the mount namespace: a caller without it in its
        // own user namespace is refused by the kernel, sandbox or not.
        let note = match e {
            Errno::EPERM => sys::inconclusive_without(CAP_SYS_ADMIN, "CAP_SYS_ADMIN", false),
            _ => None,
        };
        Outcome::denied("mount(tmpfs)", e).note(note)
    })?;
    let is_tmpfs = statfs(dir)
        .map(|s| s.filesystem_type() == TMPFS_MAGIC)
        .unwrap_or(false);
    let unmounted = match umount2(dir, MntFlags::MNT_DETACH) {
        Ok(()) => "unmounted again".to_string(),
        Err(e) => format!("umount errno={}", sys::errno_name(e)),
    };
    let ns = if private {
        "in a private mount namespace"
    } else {
        "in the current mount namespace"
    };
    let seen = if is_tmpfs {
        "statfs sees tmpfs"
    } else {
        "statfs does not see tmpfs"
    };
    Ok(Outcome::escaped(format!(
        "mounted tmpfs on {dir} {ns} ({seen}; {unmounted})"
    )))
}

/// For the positive control: a new mount namespace (and, for a non-root caller, a user
/// namespace owning it, mapped to the caller) with `/` made rprivate, so the mount can never
/// reach the host's mount table.
fn enter_private_mount_ns() -> Result<(), Outcome> {
    let (uid, gid) = (geteuid(), getegid());
    let (flags, call) = if uid.is_root() {
        (CloneFlags::CLONE_NEWNS, "unshare(CLONE_NEWNS)")
    } else {
        (
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUSER,
            "unshare(CLONE_NEWNS|CLONE_NEWUSER)",
        )
    };
    unshare(flags).map_err(|e| Outcome::denied(call, e))?;
    if !uid.is_root() {
        // Map ns-root to ourselves; setgroups must be denied before an unprivileged gid_map.
        let maps = [
            ("/proc/self/setgroups", "deny".to_string()),
            ("/proc/self/uid_map", format!("0 {uid} 1")),
            ("/proc/self/gid_map", format!("0 {gid} 1")),
        ];
        for (path, content) in maps {
            std::fs::write(path, content).map_err(|e| {
                Outcome::error(format!("write {path}: errno={}", sys::io_errno_name(&e)))
            })?;
        }
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Outcome::error(format!("make / rprivate: errno={}", sys::errno_name(e))))?;
    Ok(())
}
