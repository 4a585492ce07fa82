//! Dangerous system calls, tried the bubblewrap try-syscall way: each is issued raw with
//! harmless, deliberately bad arguments, so an unfiltered call fails inside the kernel with a
//! distinctive errno (EINVAL, EFAULT, EOPNOTSUPP, ...) and changes nothing. That counts as
//! ESCAPED ("reached the kernel"); EPERM, EACCES or ENOSYS is what a seccomp filter returns and
//! counts as BLOCKED. Where the kernel itself answers EPERM/ENOSYS to this caller, the detail
//! says so (`inconclusive:`) or the verdict is SKIP.
//!
//! Also here: io_uring_setup and TIOCSTI, which succeed for real when unfiltered.

use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::unistd::isatty;

use super::sys::{self, CAP_SYS_MODULE, errno_name};
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "io-uring",
        args: &[],
        about: "io_uring_setup(1, &params); closes the ring",
        run: io_uring,
    },
    Probe {
        name: "tiocsti",
        args: &["FD"],
        about: "inject a byte into tty FD with TIOCSTI (and TIOCSTI|1<<32)",
        run: tiocsti,
    },
    Probe {
        name: "keyctl",
        args: &[],
        about: "keyctl with an unknown operation",
        run: keyctl,
    },
    Probe {
        name: "bpf",
        args: &[],
        about: "bpf with an unknown command",
        run: bpf,
    },
    Probe {
        name: "perf-event-open",
        args: &[],
        about: "perf_event_open with a NULL attr",
        run: perf_event_open,
    },
    Probe {
        name: "userfaultfd",
        args: &[],
        about: "userfaultfd with an invalid flag",
        run: userfaultfd,
    },
    Probe {
        name: "init-module",
        args: &[],
        about: "init_module with an empty image",
        run: init_module,
    },
    Probe {
        name: "personality",
        args: &[],
        about: "personality(ADDR_NO_RANDOMIZE), then restore",
        run: personality,
    },
    Probe {
        name: "x32",
        args: &[],
        about: "getpid through the x32 ABI (nr | 0x40000000)",
        run: x32,
    },
];

/// The verdict for a call made with bad arguments (see the module doc).
fn judge(call: &str, ret: Result<libc::c_long, Errno>) -> ProbeResult {
    match ret {
        Ok(v) => Ok(Outcome::escaped(format!(
            "{call} reached the kernel: returned {v}"
        ))),
        Err(e @ (Errno::EPERM | Errno::EACCES | Errno::ENOSYS)) => Err(Outcome::denied(call, e)),
        Err(e) => Ok(Outcome::escaped(format!(
            "{call} reached the kernel: errno={}",
            errno_name(e)
        ))),
    }
}

fn keyctl(_: &Args) -> ProbeResult {
    // An operation number no kernel defines: keyctl's dispatcher answers EOPNOTSUPP to anyone,
    // before touching a key (no capability involved).
    const UNKNOWN_OP: libc::c_long = 0x7fff;
    // SAFETY: no pointer arguments; the kernel rejects the operation number.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, UNKNOWN_OP, 0usize, 0usize, 0usize, 0usize) };
    judge("keyctl(unknown op)", sys::syscall_result(ret))
}

fn bpf(_: &Args) -> ProbeResult {
    // An unknown command with a NULL attr of size 0: the size check passes, nothing is copied,
    // and the command switch answers EINVAL. Since 6.x the unprivileged_bpf_disabled check sits
    // inside the individual commands, so an unprivileged caller gets EINVAL too.
    const UNKNOWN_CMD: libc::c_long = 0x7fff;
    // SAFETY: attr is NULL with size 0, so the kernel reads no memory.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, UNKNOWN_CMD, 0usize, 0usize) };
    judge("bpf(unknown cmd)", sys::syscall_result(ret))
}

fn perf_event_open(_: &Args) -> ProbeResult {
    // attr = NULL: perf_copy_attr fails with EFAULT before perf_event_paranoid is consulted,
    // so every caller sees EFAULT.
    // SAFETY: the NULL attr is never dereferenced in user space; the kernel's copy fails.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            0usize,
            0 as libc::c_long,
            -1 as libc::c_long,
            -1 as libc::c_long,
            0usize,
        )
    };
    judge("perf_event_open(NULL attr)", sys::syscall_result(ret))
}

fn userfaultfd(_: &Args) -> ProbeResult {
    // UFFD_USER_MODE_ONLY (1) passes the vm.unprivileged_userfaultfd gate for everyone; the
    // extra bit 2 (O_RDWR, not an accepted flag) then makes new_userfaultfd answer EINVAL.
    const FLAGS: libc::c_long = 1 | 2;
    // SAFETY: takes only a flags integer.
    let ret = unsafe { libc::syscall(libc::SYS_userfaultfd, FLAGS) };
    if let Ok(fd) = i32::try_from(ret)
        && fd >= 0
    {
        // SAFETY: an fd the call just returned (should the kernel ever accept the flags).
        unsafe { libc::close(fd) };
    }
    judge("userfaultfd(invalid flags)", sys::syscall_result(ret))
}

fn init_module(_: &Args) -> ProbeResult {
    // An empty image: with CAP_SYS_MODULE the kernel answers ENOEXEC (too short for an ELF
    // header). Without it (any non-root caller, or root inside a user namespace: capable() looks
    // at the initial namespace) the kernel itself answers EPERM. A kernel built without module
    // support answers ENOSYS.
    // SAFETY: len is 0, so the NULL image is not read; uargs is a NUL-terminated empty string.
    let ret = unsafe { libc::syscall(libc::SYS_init_module, 0usize, 0usize, c"".as_ptr()) };
    let res = sys::syscall_result(ret);
    match res {
        Err(Errno::ENOSYS) if modules_unsupported() => Ok(Outcome::skip(
            "kernel built without module support (ENOSYS; no /proc/modules)",
        )),
        Err(Errno::EPERM) => Err(
            Outcome::denied("init_module(empty image)", Errno::EPERM).note(
                sys::inconclusive_without(CAP_SYS_MODULE, "CAP_SYS_MODULE", true),
            ),
        ),
        _ => judge("init_module(empty image)", res),
    }
}

/// /proc is readable but has no `modules`: CONFIG_MODULES is off.
fn modules_unsupported() -> bool {
    std::path::Path::new("/proc/self/stat").exists()
        && !std::path::Path::new("/proc/modules").exists()
}

fn personality(_: &Args) -> ProbeResult {
    // Unfiltered, personality() accepts any persona from anyone and returns the previous one:
    // success, not an error. It only affects this short-lived process (and it is restored).
    const ADDR_NO_RANDOMIZE: libc::c_long = 0x0040000;
    // SAFETY: takes only an integer persona.
    let ret = unsafe { libc::syscall(libc::SYS_personality, ADDR_NO_RANDOMIZE) };
    let res = sys::syscall_result(ret);
    if let Ok(old) = res {
        // SAFETY: as above; restores the persona we had.
        unsafe { libc::syscall(libc::SYS_personality, old) };
    }
    judge("personality(ADDR_NO_RANDOMIZE)", res)
}

fn x32(_: &Args) -> ProbeResult {
    const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
    // SAFETY: getpid takes no arguments; with the x32 bit it is either x32 getpid or ENOSYS.
    let ret = unsafe { libc::syscall(libc::SYS_getpid | X32_SYSCALL_BIT) };
    match sys::syscall_result(ret) {
        Ok(pid) => Ok(Outcome::escaped(format!(
            "x32 getpid reached the kernel: returned {pid}"
        ))),
        // A kernel without CONFIG_X86_X32_ABI answers ENOSYS after any seccomp filter let the
        // call through, so ENOSYS cannot tell a filter from a kernel without x32.
        Err(Errno::ENOSYS) => Ok(Outcome::skip("x32 ABI disabled in this kernel (ENOSYS)")),
        Err(e) => Err(Outcome::denied("x32 getpid", e)),
    }
}

/// `struct io_uring_params` is 120 bytes; zeroed means "defaults".
type IoUringParams = [u64; 15];

fn io_uring(_: &Args) -> ProbeResult {
    let mut params: IoUringParams = [0; 15];
    // SAFETY: params is a writable, zeroed 120-byte io_uring_params that outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    match sys::syscall_result(ret) {
        Ok(fd) => {
            // SAFETY: the ring fd the call just returned; nothing else owns it.
            unsafe { libc::close(fd as i32) };
            Ok(Outcome::escaped(format!(
                "io_uring_setup returned ring fd {fd} (closed)"
            )))
        }
        Err(e) => Err(Outcome::denied("io_uring_setup", e).note(io_uring_sysctl_note(e))),
    }
}

/// kernel.io_uring_disabled=2 denies everyone, =1 everyone outside kernel.io_uring_group
/// (root excepted): the kernel's own EPERM.
fn io_uring_sysctl_note(e: Errno) -> Option<String> {
    if e != Errno::EPERM {
        return None;
    }
    let v = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?;
    match v.trim() {
        "0" => None,
        other => Some(format!("inconclusive: kernel.io_uring_disabled={other}")),
    }
}

fn tiocsti(a: &Args) -> ProbeResult {
    let fd: i32 = a.parse(0)?;
    if fd < 0 {
        return Err(a.usage_error("FD must not be negative"));
    }
    // SAFETY: only borrowed for isatty; a closed fd yields EBADF (-> SKIP), never UB.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    match isatty(borrowed) {
        Ok(true) => {}
        Ok(false) => return Ok(Outcome::skip(format!("fd {fd} is not a tty"))),
        Err(e) => {
            return Ok(Outcome::skip(format!(
                "fd {fd} is not a tty (errno={})",
                errno_name(e)
            )));
        }
    }
    // TIOCSTI needs the tty to be our controlling terminal (or CAP_SYS_ADMIN): become a session
    // leader and adopt it. Either may fail (already a group leader, tty owned by another
    // session); arg 0 never steals a terminal from another session.
    let _ = nix::unistd::setsid();
    // SAFETY: TIOCSCTTY takes an integer argument (0 = do not steal).
    unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) };
    let byte: u8 = b' ';
    let plain = sti(fd, libc::TIOCSTI, &byte);
    if plain.is_ok() {
        return Ok(Outcome::escaped("ioctl(TIOCSTI) injected 1 byte"));
    }
    // The kernel truncates the request to 32 bits; a filter comparing all 64 would miss this.
    let high = sti(fd, libc::TIOCSTI | 1 << 32, &byte);
    let e1 = plain.err().map(errno_name).unwrap_or_default();
    match high {
        Ok(()) => Ok(Outcome::escaped(format!(
            "ioctl(TIOCSTI) errno={e1} but ioctl(TIOCSTI|1<<32) injected 1 byte"
        ))),
        Err(e2) => Err(Outcome::blocked(format!(
            "ioctl(TIOCSTI) errno={e1}; ioctl(TIOCSTI|1<<32) errno={}",
            errno_name(e2)
        ))
        .note(tiocsti_note(fd, e2))),
    }
}

/// One raw ioctl(fd, request, &byte), so the full 64-bit request reaches seccomp.
fn sti(fd: i32, request: libc::c_ulong, byte: &u8) -> Result<(), Errno> {
    // SAFETY: TIOCSTI reads one byte from the pointer, which points at a live u8.
    let ret = unsafe { libc::syscall(libc::SYS_ioctl, fd, request, byte as *const u8) };
    sys::syscall_result(ret).map(drop)
}

/// Kernel-side reasons for a TIOCSTI denial: EPERM when the tty is not our controlling
/// terminal, EIO when dev.tty.legacy_tiocsti=0 (both waived with CAP_SYS_ADMIN).
fn tiocsti_note(fd: i32, e: Errno) -> Option<String> {
    match e {
        Errno::EIO => Some("inconclusive: dev.tty.legacy_tiocsti=0 disables TIOCSTI".into()),
        Errno::EPERM => {
            // SAFETY: tcgetsid and getsid take plain integers.
            let (tty_sid, my_sid) = unsafe { (libc::tcgetsid(fd), libc::getsid(0)) };
            (tty_sid != my_sid).then(|| {
                "inconclusive: FD is not this process's controlling tty (TIOCSCTTY failed)".into()
            })
        }
        _ => None,
    }
}
