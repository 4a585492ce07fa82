//! Resource exhaustion: processes, memory, descriptors, file size and CPU time. Each probe stops
//! at its own bound N, so unsandboxed it is a bounded load, and it releases what it took
//! (children killed and reaped, file removed) before printing its verdict.
//!
//! A limit enforced by a kill rather than an error (OOM killer, SIGXCPU, SIGKILL at the hard
//! CPU limit) ends the probe without a verdict line; the caller sees it in the exit status.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::stat::Mode;
use nix::unistd::write;

use super::sys::{self, PausingChild, errno_name};
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "fork-bomb",
        args: &["N"],
        about: "fork up to N pausing children (all killed and reaped)",
        run: fork_bomb,
    },
    Probe {
        name: "mem-bomb",
        args: &["MIB"],
        about: "mmap and touch MIB MiB in 16 MiB chunks",
        run: mem_bomb,
    },
    Probe {
        name: "open-files",
        args: &["N"],
        about: "raise the soft descriptor limit to the hard one, then open /dev/null N times",
        run: open_files,
    },
    Probe {
        name: "file-size",
        args: &["MIB", "PATH"],
        about: "write MIB MiB to PATH (SIGXFSZ ignored; removed afterwards)",
        run: file_size,
    },
    Probe {
        name: "sparse-file",
        args: &["BYTES", "PATH"],
        about: "grow PATH to BYTES with one byte written at the end (sparse; removed)",
        run: sparse_file,
    },
    Probe {
        name: "linger",
        args: &["SECONDS", "TAG"],
        about: "run SECONDS with a forked child doing the same (TAG marks both in ps)",
        run: linger,
    },
    Probe {
        name: "cpu-spin",
        args: &["SECONDS"],
        about: "burn SECONDS of CPU time",
        run: cpu_spin,
    },
];

const MIB: usize = 1 << 20;

fn fork_bomb(a: &Args) -> ProbeResult {
    let n: u32 = a.parse(0)?;
    // Every child is a PausingChild: dropping `children` (on any path, including the early
    // returns below) kills and reaps them all.
    let mut children: Vec<PausingChild> = Vec::new();
    for _ in 0..n {
        match PausingChild::spawn() {
            Ok(c) => children.push(c),
            Err(e) => {
                let forked = children.len();
                drop(children);
                return Err(Outcome::blocked(format!(
                    "forked={forked} errno={}",
                    errno_name(e)
                )));
            }
        }
    }
    let forked = children.len();
    drop(children);
    Ok(Outcome::escaped(format!(
        "forked={forked} (all killed and reaped)"
    )))
}

fn mem_bomb(a: &Args) -> ProbeResult {
    let mib: usize = a.parse(0)?;
    const CHUNK: usize = 16 * MIB;
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .unwrap_or(4096)
        .max(1);
    let total = mib
        .checked_mul(MIB)
        .ok_or_else(|| a.usage_error("MIB is too large"))?;
    let mut done = 0usize;
    while done < total {
        let len = CHUNK.min(total - done);
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = Errno::last();
            return Err(Outcome::blocked(format!(
                "allocated={} MiB mmap errno={}",
                done / MIB,
                errno_name(e)
            )));
        }
        let base = p.cast::<u8>();
        let mut off = 0;
        while off < len {
            // SAFETY: off < len, inside the writable mapping just created. Volatile so the
            // touch is not optimised away: every page must really be faulted in.
            unsafe { base.add(off).write_volatile(1) };
            off += page;
        }
        // The mapping is deliberately kept until exit: the point is to hold the memory.
        done += len;
    }
    Ok(Outcome::escaped(format!(
        "allocated={} MiB (all pages touched)",
        done / MIB
    )))
}

fn open_files(a: &Args) -> ProbeResult {
    let n: usize = a.parse(0)?;
    // Anyone may raise the soft limit up to the hard one; a limit only holds if both are set.
    let raised = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => format!("soft limit raised {soft} -> {hard}"),
            Err(e) => format!("raising the soft limit failed errno={}", errno_name(e)),
        },
        Ok((soft, _)) => format!("limit {soft}"),
        Err(e) => format!("getrlimit errno={}", errno_name(e)),
    };
    let mut fds: Vec<OwnedFd> = Vec::new();
    while fds.len() < n {
        match open(
            "/dev/null",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fds.push(fd),
            Err(e @ (Errno::EMFILE | Errno::ENFILE)) => {
                return Err(Outcome::blocked(format!(
                    "opened={} errno={} ({raised})",
                    fds.len(),
                    errno_name(e)
                )));
            }
            Err(e) if fds.is_empty() => {
                return Err(Outcome::error(format!(
                    "cannot open /dev/null: errno={}",
                    errno_name(e)
                )));
            }
            Err(e) => {
                return Err(Outcome::blocked(format!(
                    "opened={} errno={}",
                    fds.len(),
                    errno_name(e)
                )));
            }
        }
    }
    Ok(Outcome::escaped(format!("opened={} ({raised})", fds.len())))
}

fn file_size(a: &Args) -> ProbeResult {
    let mib: usize = a.parse(0)?;
    let path = a.get(1)?;
    // RLIMIT_FSIZE sends SIGXFSZ (default: terminate); ignored, the write fails with EFBIG.
    // SAFETY: installing SIG_IGN runs no handler code.
    unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) }
        .map_err(|e| Outcome::error(format!("signal(SIGXFSZ) errno={}", errno_name(e))))?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
    let fd = open(path, flags, Mode::from_bits_truncate(0o600))
        .map_err(|e| Outcome::error(format!("cannot create {path}: errno={}", errno_name(e))))?;
    let buf = vec![b'x'; MIB];
    let total = mib
        .checked_mul(MIB)
        .ok_or_else(|| a.usage_error("MIB is too large"))?;
    let mut written = 0usize;
    let mut failure = None;
    while written < total {
        let want = MIB.min(total - written);
        match write(&fd, &buf[..want]) {
            Ok(0) => {
                failure = Some(Errno::ENOSPC);
                break;
            }
            Ok(k) => written += k,
            Err(Errno::EINTR) => continue,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(fd);
    if let Err(e) = std::fs::remove_file(path) {
        sys::diag(&format!("could not remove {path}: {e}"));
    }
    let sizes = format!("written={} MiB ({written} bytes)", written / MIB);
    match failure {
        None => Ok(Outcome::escaped(format!("{sizes}; removed"))),
        Some(e @ (Errno::EFBIG | Errno::ENOSPC | Errno::EDQUOT)) => {
            Err(Outcome::blocked(format!("{sizes} errno={}", errno_name(e))))
        }
        Some(e) => Err(Outcome::error(format!(
            "{sizes} write failed errno={}",
            errno_name(e)
        ))),
    }
}

fn sparse_file(a: &Args) -> ProbeResult {
    let bytes: u64 = a.parse(0)?;
    let path = a.get(1)?;
    if bytes == 0 {
        return Err(a.usage_error("BYTES must be at least 1"));
    }
    let offset = i64::try_from(bytes - 1).map_err(|_| a.usage_error("BYTES is too large"))?;
    // RLIMIT_FSIZE sends SIGXFSZ (default: terminate); ignored, the write fails with EFBIG.
    // SAFETY: installing SIG_IGN runs no handler code.
    unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) }
        .map_err(|e| Outcome::error(format!("signal(SIGXFSZ) errno={}", errno_name(e))))?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC;
    let fd = open(path, flags, Mode::from_bits_truncate(0o600))
        .map_err(|e| Outcome::error(format!("cannot create {path}: errno={}", errno_name(e))))?;
    let res = nix::sys::uio::pwrite(&fd, b"x", offset);
    drop(fd);
    if let Err(e) = std::fs::remove_file(path) {
        sys::diag(&format!("could not remove {path}: {e}"));
    }
    match res {
        Ok(_) => Ok(Outcome::escaped(format!(
            "grew {path} to {bytes} bytes (sparse; removed)"
        ))),
        Err(e @ (Errno::EFBIG | Errno::ENOSPC | Errno::EDQUOT)) => Err(Outcome::blocked(format!(
            "pwrite at offset {offset} errno={}",
            errno_name(e)
        ))),
        Err(e) => Err(Outcome::error(format!(
            "pwrite at offset {offset} failed errno={}",
            errno_name(e)
        ))),
    }
}

/// The wall-clock target: live SECONDS with a forked child that lives as long. TAG only marks
/// the command line, so the host can look for survivors of a killed run in /proc.
fn linger(a: &Args) -> ProbeResult {
    let seconds: u64 = a.parse(0)?;
    let _tag = a.get(1)?;
    if seconds == 0 || seconds > 3600 {
        return Err(a.usage_error("SECONDS must be 1..=3600"));
    }
    let length = Duration::from_secs(seconds);
    let start = Instant::now();
    // SAFETY: the probe is single-threaded (see `sys`); the child only sleeps and _exits.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            std::thread::sleep(length);
            sys::child_exit(0)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(e) => return Err(Outcome::denied("fork", e)),
    };
    std::thread::sleep(length);
    let _ = nix::sys::wait::waitpid(child, None);
    Ok(Outcome::escaped(format!(
        "ran {:.1} s with child {child}",
        start.elapsed().as_secs_f64()
    )))
}

/// CPU time of this process (CLOCK_PROCESS_CPUTIME_ID).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if ret != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn cpu_spin(a: &Args) -> ProbeResult {
    let seconds: u32 = a.parse(0)?;
    let goal = Duration::from_secs(u64::from(seconds));
    // A CPU quota (cgroup) throttles rather than kills: give up after 10x the wall time, so a
    // throttled run ends with a verdict instead of hanging.
    let wall_cap = goal * 10 + Duration::from_secs(5);
    let start = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x.rotate_left(5) ^ 0x2545_f491_4f6c_dd1d).wrapping_mul(3);
        }
        let cpu = cpu_time();
        let wall = start.elapsed();
        if cpu >= goal {
            return Ok(Outcome::escaped(format!(
                "burned {:.2} s CPU in {:.2} s wall",
                cpu.as_secs_f64(),
                wall.as_secs_f64()
            )));
        }
        if wall >= wall_cap {
            return Err(Outcome::blocked(format!(
                "throttled: only {:.2} s CPU in {:.2} s wall",
                cpu.as_secs_f64(),
                wall.as_secs_f64()
            )));
        }
    }
}
