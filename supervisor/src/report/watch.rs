//! The supervisor's half of the `--report` watch (`confine::watch` installs the filter): a thread
//! that receives each watched call of the workload (SECCOMP_IOCTL_NOTIF_RECV), reads its path or
//! address from the caller's memory (/proc/PID/mem, the fd links under /proc/PID), answers
//! CONTINUE so the kernel runs the call unchanged, and then judges what was asked against the
//! run's grants ([`Grants`]).
//!
//! The supervisor never decides a call here: the kernel's own checks (mount view, Landlock,
//! the deny-list) still apply after CONTINUE. What the notification says about a path can be
//! changed by another thread of the workload before the kernel reads it; that only makes the
//! report wrong, never the sandbox weaker, which is why this is a report and not an enforcer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Collector;
use super::grants::{Grants, Need};
use crate::audit::ReportSource;
use crate::confine::ConfineError;

/// Longest path read from the workload's memory (PATH_MAX).
const MAX_PATH: usize = 4096;

/// What `supervise::wait` needs: where to send the listener, and where to say that the
/// workload could not install it.
#[derive(Debug)]
pub struct Handoff {
    pub fd: tokio::sync::oneshot::Sender<OwnedFd>,
    pub unavailable: Arc<Unavailable>,
}

/// The workload's reason for running without the watch, when it had to.
#[derive(Debug, Default)]
pub struct Unavailable(Mutex<Option<ConfineError>>);

impl Unavailable {
    pub fn set(&self, e: ConfineError) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(e);
        }
    }

    fn get(&self) -> Option<ConfineError> {
        self.0.lock().ok()?.clone()
    }
}

/// The running watcher.
#[derive(Debug)]
pub struct Watcher {
    thread: std::io::Result<JoinHandle<Result<u64, String>>>,
    unavailable: Arc<Unavailable>,
}

/// Start the watcher thread; it waits for the listener, then serves it until every watched
/// process is gone.
pub fn start(grants: Grants, collector: Arc<Collector>) -> (Handoff, Watcher) {
    let (tx, rx) = tokio::sync::oneshot::channel::<OwnedFd>();
    let unavailable = Arc::new(Unavailable::default());
    let thread = std::thread::Builder::new()
        .name("report-watch".into())
        .spawn(move || {
            let listener = rx
                .blocking_recv()
                .map_err(|_| "the workload never handed over its listener".to_string())?;
            Ok(serve(&listener, &grants, &collector))
        });
    (
        Handoff {
            fd: tx,
            unavailable: Arc::clone(&unavailable),
        },
        Watcher {
            thread,
            unavailable,
        },
    )
}

impl Watcher {
    /// Wait for the watcher (the sandbox has ended, so its listener hangs up) and say what it
    /// watched.
    pub fn finish(self) -> ReportSource {
        let result = match self.thread {
            Ok(t) => t
                .join()
                .unwrap_or_else(|_| Err("the watcher thread panicked".into())),
            Err(e) => Err(format!("cannot start the watcher thread: {e}")),
        };
        let (active, detail) = match (result, self.unavailable.get()) {
            (_, Some(e)) => (false, format!("the workload could not install it: {e}")),
            (Ok(calls), None) => (
                true,
                format!(
                    "open, openat, openat2, creat, execve, execveat and connect of every process of the workload ({calls} calls seen); not stat, access, mkdir, unlink, rename, link or bind, and not what the mount view hides from a directory listing"
                ),
            ),
            (Err(why), None) => (false, why),
        };
        ReportSource {
            name: super::SECCOMP_NOTIFY.into(),
            active,
            detail,
        }
    }
}

/// Serve notifications until the filter has no process left; the number of calls seen.
fn serve(listener: &OwnedFd, grants: &Grants, collector: &Collector) -> u64 {
    let mut calls = 0;
    loop {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => return calls,
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if !revents.contains(PollFlags::POLLIN) {
            // POLLHUP: every process the filter was attached to is gone.
            return calls;
        }
        // SAFETY: an all-zero seccomp_notif is valid (and the kernel requires it zeroed).
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV writes one seccomp_notif into `req`, which we own.
        let rc = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut req as *mut libc::seccomp_notif,
            )
        };
        if rc < 0 {
            match Errno::last() {
                // The caller died or was interrupted before we took it.
                Errno::EINTR | Errno::ENOENT => continue,
                _ => return calls,
            }
        }
        calls += 1;
        let seen = inspect(&req);
        // The pid may have been reused if the caller died meanwhile: the reads are its only
        // while its notification is still pending.
        // SAFETY: ID_VALID reads one u64 from the pointer.
        let valid = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &req.id as *const u64,
            )
        } == 0;
        let resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error: 0,
            flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        };
        // SAFETY: SEND reads one seccomp_notif_resp from the pointer. ENOENT (the caller is
        // gone) needs nothing more.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &resp as *const libc::seccomp_notif_resp,
            )
        };
        match (valid, seen) {
            (true, Some(Seen::File(path, need))) => {
                if let Some(d) = grants.file(&path, need) {
                    collector.add(d);
                }
            }
            (true, Some(Seen::Connect(addr, stream))) => {
                if let Some(d) = grants.connect(addr, stream) {
                    collector.add(d);
                }
            }
            (true, Some(Seen::Nothing)) => {}
            _ => collector.unreadable(),
        }
    }
}

/// What one call asked for.
#[derive(Debug)]
enum Seen {
    File(PathBuf, Need),
    Connect(SocketAddr, Option<bool>),
    /// Nothing to judge (a non-IP socket, an empty path).
    Nothing,
}

fn open_need(flags: u64) -> Option<Need> {
    let flags = flags as i32;
    if flags & libc::O_PATH != 0 {
        // O_PATH opens nothing for reading or writing; Landlock does not check it.
        return None;
    }
    let writes =
        flags & libc::O_ACCMODE != libc::O_RDONLY || flags & (libc::O_CREAT | libc::O_TRUNC) != 0;
    Some(if writes { Need::Write } else { Need::Read })
}

/// Read what the call asks for from the stopped caller. None when its memory or fds could not be
/// read.
fn inspect(req: &libc::seccomp_notif) -> Option<Seen> {
    let pid = req.pid;
    let a = req.data.args;
    let nr = i64::from(req.data.nr);
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    #[cfg(target_arch = "x86_64")]
    {
        if nr == libc::SYS_open {
            let Some(need) = open_need(a[1]) else {
                return Some(Seen::Nothing);
            };
            return path_at(pid, &mem, libc::AT_FDCWD, a[0]).map(|p| Seen::File(p, need));
        }
        if nr == libc::SYS_creat {
            return path_at(pid, &mem, libc::AT_FDCWD, a[0]).map(|p| Seen::File(p, Need::Write));
        }
    }
    if nr == libc::SYS_openat {
        let Some(need) = open_need(a[2]) else {
            return Some(Seen::Nothing);
        };
        return path_at(pid, &mem, a[0] as i32, a[1]).map(|p| Seen::File(p, need));
    }
    if nr == libc::SYS_openat2 {
        // struct open_how starts with the u64 flags.
        let mut flags = [0u8; 8];
        mem.read_exact_at(&mut flags, a[2]).ok()?;
        let Some(need) = open_need(u64::from_ne_bytes(flags)) else {
            return Some(Seen::Nothing);
        };
        return path_at(pid, &mem, a[0] as i32, a[1]).map(|p| Seen::File(p, need));
    }
    if nr == libc::SYS_execve {
        return path_at(pid, &mem, libc::AT_FDCWD, a[0]).map(|p| Seen::File(p, Need::Exec));
    }
    if nr == libc::SYS_execveat {
        return path_at(pid, &mem, a[0] as i32, a[1]).map(|p| Seen::File(p, Need::Exec));
    }
    if nr == libc::SYS_connect {
        return connect_target(pid, &mem, a[0] as i32, a[1], a[2]);
    }
    Some(Seen::Nothing)
}

/// The path a call names: `addr` read from the caller, made absolute against its cwd or `dirfd`.
fn path_at(pid: u32, mem: &std::fs::File, dirfd: i32, addr: u64) -> Option<PathBuf> {
    let raw = read_cstr(mem, addr)?;
    if raw.is_empty() {
        // AT_EMPTY_PATH: the fd itself.
        return std::fs::read_link(format!("/proc/{pid}/fd/{dirfd}")).ok();
    }
    let path =
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(raw));
    if path.is_absolute() {
        return Some(path);
    }
    // The links read from the host name the directory as the sandbox sees it (its root is the
    // root of its own mount tree).
    let base = if dirfd == libc::AT_FDCWD {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?
    } else {
        std::fs::read_link(format!("/proc/{pid}/fd/{dirfd}")).ok()?
    };
    Some(base.join(path))
}

/// A NUL-terminated string at `addr`, read page by page (a read must not cross into an unmapped
/// page).
fn read_cstr(mem: &std::fs::File, addr: u64) -> Option<Vec<u8>> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < MAX_PATH {
        let len = (PAGE - at % PAGE) as usize;
        let mut buf = vec![0u8; len.min(MAX_PATH - out.len())];
        let n = mem.read_at(&mut buf, at).ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Some(out);
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    None
}

fn connect_target(pid: u32, mem: &std::fs::File, fd: i32, addr: u64, len: u64) -> Option<Seen> {
    let mut buf = [0u8; 28];
    let len = (len as usize).min(buf.len());
    if len < 2 {
        return Some(Seen::Nothing);
    }
    mem.read_exact_at(&mut buf[..len], addr).ok()?;
    let family = i32::from(u16::from_ne_bytes([buf[0], buf[1]]));
    let port = u16::from_be_bytes([buf[2], buf[3]]);
    let ip = match family {
        libc::AF_INET if len >= 8 => IpAddr::V4(Ipv4Addr::new(buf[4], buf[5], buf[6], buf[7])),
        libc::AF_INET6 if len >= 24 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&buf[8..24]);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Some(Seen::Nothing),
    };
    Some(Seen::Connect(
        SocketAddr::new(ip, port),
        socket_is_stream(pid, fd),
    ))
}

/// Whether the caller's `fd` is a stream socket: a copy of it (pidfd_getfd, the same permission as
/// reading its memory) asked for SO_TYPE. None when that is not possible.
fn socket_is_stream(pid: u32, fd: i32) -> Option<bool> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd takes a pidfd, a target fd and flags; returns a new fd or -1.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if copy < 0 {
        return None;
    }
    // SAFETY: as above.
    let copy = unsafe { OwnedFd::from_raw_fd(copy as i32) };
    let kind = nix::sys::socket::getsockopt(&copy, nix::sys::socket::sockopt::SockType).ok()?;
    Some(kind == nix::sys::socket::SockType::Stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_say_what_is_needed() {
        assert_eq!(open_need(libc::O_RDONLY as u64), Some(Need::Read));
        assert_eq!(
            open_need((libc::O_WRONLY | libc::O_CREAT) as u64),
            Some(Need::Write)
        );
        assert_eq!(open_need(libc::O_RDWR as u64), Some(Need::Write));
        assert_eq!(open_need((libc::O_PATH | libc::O_RDONLY) as u64), None);
    }

    #[test]
    fn strings_are_read_from_a_process_memory() {
        let text = b"/opt/data/file\0trailing";
        let mem = std::fs::File::open("/proc/self/mem").unwrap();
        let got = read_cstr(&mem, text.as_ptr() as u64).unwrap();
        assert_eq!(got, b"/opt/data/file");
    }
}
