//! A daemon that tries to outlive the sandbox: double fork + setsid, then a heartbeat appended
//! to a file every 100 ms. The probe reports `SENT` at once; only the host can tell, by watching
//! the file grow after the sandbox has ended, whether the daemon survived.
//!
//! The daemon re-executes itself from an in-memory copy of the binary (memfd + execveat) so it
//! does not keep the probe's file busy: a harness that copies a fresh probe over the same path
//! while the control daemon still runs would otherwise get ETXTBSY. If that is not possible
//! (no memfd, exec denied) it simply runs the heartbeat in place.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe2, read, setsid, write};

use super::sys::{self, child_exit};
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[Probe {
    name: "daemonize",
    args: &["FILE", "SECONDS"],
    about: "double-fork + setsid a daemon appending to FILE every 100 ms for SECONDS",
    run: daemonize,
}];

/// The hidden subcommand the re-executed daemon runs: `__daemon-loop FILE MILLIS`.
pub const LOOP_COMMAND: &str = "__daemon-loop";

/// The longest a daemon may be asked to run.
const MAX_SECONDS: u32 = 3600;

fn daemonize(a: &Args) -> ProbeResult {
    let file = a.get(0)?.to_string();
    let seconds: u32 = a.parse(1)?;
    if seconds == 0 || seconds > MAX_SECONDS {
        return Err(a.usage_error(&format!("SECONDS must be 1..={MAX_SECONDS}")));
    }
    // The intermediate child reports the daemon's pid (or -errno) through this pipe.
    let (rx, tx) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Outcome::error(format!("pipe2 errno={}", sys::errno_name(e))))?;
    // SAFETY: the probe is single-threaded (see `sys`); the child only forks, writes to the pipe
    // and _exits, and the grandchild runs plain Rust in its own single-threaded copy.
    let first = unsafe { fork() }.map_err(|e| Outcome::denied("fork", e))?;
    match first {
        ForkResult::Child => {
            drop(rx);
            intermediate(tx, &file, seconds)
        }
        ForkResult::Parent { child } => {
            drop(tx);
            let _ = waitpid(child, None);
            let mut word = [0u8; 4];
            if read_full(&rx, &mut word) != 4 {
                return Err(Outcome::error(
                    "the intermediate child died before reporting",
                ));
            }
            let value = i32::from_ne_bytes(word);
            if value < 0 {
                return Err(Outcome::denied("second fork", Errno::from_raw(-value)));
            }
            Ok(Outcome::sent(format!(
                "daemon pid {value} (setsid, reparented) appends to {file} every 100 ms for {seconds} s"
            )))
        }
    }
}

fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    got
}

/// First child: new session, fork the daemon, report its pid, exit so it is reparented.
fn intermediate(tx: OwnedFd, file: &str, seconds: u32) -> ! {
    let _ = setsid();
    // SAFETY: still single-threaded (a forked copy of the probe).
    let report = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(tx);
            daemon(file, seconds)
        }
        Ok(ForkResult::Parent { child }) => child.as_raw(),
        Err(e) => -(e as i32),
    };
    let _ = write(&tx, &report.to_ne_bytes());
    child_exit(0)
}

/// The daemon: detach stdio (so whoever reads the probe's stdout sees EOF at once), leave the
/// probe's binary if possible, then beat.
fn daemon(file: &str, seconds: u32) -> ! {
    detach_stdio();
    let millis = u64::from(seconds) * 1000;
    exec_from_memory(file, millis);
    heartbeat(file, Duration::from_millis(millis));
    child_exit(0)
}

/// `__daemon-loop FILE MILLIS`: the heartbeat, in the re-executed in-memory copy.
pub fn loop_main(args: &[String]) -> ! {
    if let [file, millis] = args
        && let Ok(ms) = millis.parse::<u64>()
    {
        heartbeat(file, Duration::from_millis(ms));
    }
    child_exit(0)
}

/// Append `beat N pid P` to `file` every 100 ms for `length`.
fn heartbeat(file: &str, length: Duration) {
    let end = Instant::now() + length;
    let me = std::process::id();
    let mut beat = 0u64;
    while Instant::now() < end {
        let line = format!("beat {beat} pid {me}\n");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file);
        if let Ok(mut f) = f {
            let _ = std::io::Write::write_all(&mut f, line.as_bytes());
        }
        beat += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Copy /proc/self/exe into a memfd and execveat it as `__daemon-loop FILE MILLIS`. Returns
/// only if any step fails.
fn exec_from_memory(file: &str, millis: u64) {
    let Ok(image) = std::fs::read("/proc/self/exe") else {
        return;
    };
    let millis = millis.to_string();
    let mut words: Vec<&str> = vec!["missy-probe"];
    words.extend(super::self_prefix().iter().map(String::as_str));
    words.extend([LOOP_COMMAND, file, &millis]);
    let Ok(argv_owned) = words
        .into_iter()
        .map(CString::new)
        .collect::<Result<Vec<CString>, _>>()
    else {
        return;
    };
    let mut argv: Vec<*const libc::c_char> = argv_owned.iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: the name is NUL-terminated; MFD_CLOEXEC so the fd does not leak into the new image.
    let fd = unsafe { libc::memfd_create(c"missy-probe-daemon".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return;
    }
    // SAFETY: fd is the memfd just created and owned only here.
    let mem = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut written = 0;
    while written < image.len() {
        match write(&mem, &image[written..]) {
            Ok(n) if n > 0 => written += n,
            _ => return,
        }
    }
    // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings that outlive
    // the call; the empty path with AT_EMPTY_PATH executes the memfd itself. On success this
    // never returns.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mem.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
}

/// Point fds 0-2 at /dev/null, or close them if there is no /dev/null.
fn detach_stdio() {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null");
    let src = null.map(std::os::fd::IntoRawFd::into_raw_fd).ok();
    for target in 0..=2 {
        match src {
            // SAFETY: dup2 onto 0..=2 replaces the daemon's own stdio; the source fd is open.
            Some(fd) => unsafe {
                libc::dup2(fd, target);
            },
            // SAFETY: closing the daemon's own stdio descriptors; nothing else uses them.
            None => unsafe {
                libc::close(target);
            },
        }
    }
    if let Some(fd) = src.filter(|&fd| fd > 2) {
        // SAFETY: the /dev/null descriptor opened above, now duplicated onto 0..=2.
        unsafe { libc::close(fd) };
    }
}
