//! Landlock's own denial records (ABI 7: AUDIT_LANDLOCK_ACCESS, AUDIT_LANDLOCK_DOMAIN), read from
//! the kernel audit subsystem's read-only multicast group (AUDIT_NLGRP_READLOG), which needs
//! CAP_AUDIT_READ: root only.
//!
//! Landlock logs only while kernel audit is enabled (`audit_enabled`), and with audit disabled
//! nothing reaches the multicast group either (checked on 6.18). missy-sandbox never changes the
//! host's audit configuration: enabling it affects every process of the host and would race with
//! concurrent runs restoring it. So this source is used only when the host has audit enabled
//! already; otherwise the report says so. The workload's domain is created before its execve, so
//! `LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON` is set with `--report` (`confine::landlock`).
//!
//! Records are matched to this run through their domain: the `LANDLOCK_DOMAIN` record names the
//! pid that created it, and the domain is ours when that process is in the sandbox's pid
//! namespace.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Collector;
use crate::audit::{Denial, ReportSource};

const AUDIT_GET: u16 = 1000;
const AUDIT_LANDLOCK_ACCESS: u16 = 1423;
const AUDIT_LANDLOCK_DOMAIN: u16 = 1424;
const AUDIT_NLGRP_READLOG: u32 = 1;
const NLMSG_HDRLEN: usize = 16;
/// Access records kept while their domain is not yet known to be ours.
const MAX_PENDING: usize = 1024;

/// The running reader.
#[derive(Debug)]
pub struct KernelAudit {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

fn netlink_audit() -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; returns a new fd or -1.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `audit_enabled` from AUDIT_GET (the first u32 of `struct audit_status` is the mask, the second
/// `enabled`).
fn audit_enabled() -> std::io::Result<u32> {
    let sock = netlink_audit()?;
    let mut req = [0u8; NLMSG_HDRLEN];
    req[0..4].copy_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&AUDIT_GET.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    // SAFETY: an all-zero sockaddr_nl is the kernel's address.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: sendto reads `req` and `kernel`, both alive for the call.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buf = [0u8; 8192];
    let n = nix::sys::socket::recv(
        sock.as_raw_fd(),
        &mut buf,
        nix::sys::socket::MsgFlags::empty(),
    )
    .map_err(std::io::Error::from)?;
    let kind = u16::from_ne_bytes([buf[4], buf[5]]);
    if kind == libc::NLMSG_ERROR as u16 && n >= NLMSG_HDRLEN + 4 {
        let errno = -i32::from_ne_bytes(buf[16..20].try_into().unwrap_or_default());
        return Err(std::io::Error::from_raw_os_error(errno));
    }
    if kind != AUDIT_GET || n < NLMSG_HDRLEN + 8 {
        return Err(std::io::Error::other("unexpected answer to AUDIT_GET"));
    }
    Ok(u32::from_ne_bytes(
        buf[NLMSG_HDRLEN + 4..NLMSG_HDRLEN + 8]
            .try_into()
            .unwrap_or_default(),
    ))
}

/// The multicast socket, joined before the sandbox may run so no record of it is missed.
#[derive(Debug)]
pub struct Joined(OwnedFd);

/// Join the audit log multicast group, or say why this source cannot watch.
pub fn join() -> Result<Joined, String> {
    match audit_enabled() {
        Ok(0) => {
            return Err("kernel audit is disabled (audit_enabled = 0), so Landlock logs nothing; missy-sandbox does not change the host's audit configuration (`auditctl -e 1` enables it)".into());
        }
        Ok(_) => {}
        Err(e) => {
            return Err(format!(
                "cannot query kernel audit ({e}): reading Landlock's records needs root (CAP_AUDIT_READ)"
            ));
        }
    }
    let sock = netlink_audit().map_err(|e| format!("netlink audit socket: {e}"))?;
    // SAFETY: an all-zero sockaddr_nl with the group set is a valid address.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    addr.nl_groups = AUDIT_NLGRP_READLOG;
    // SAFETY: bind reads `addr`, alive for the call.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if rc < 0 {
        return Err(format!(
            "cannot join the audit log multicast group ({}): needs CAP_AUDIT_READ",
            std::io::Error::last_os_error()
        ));
    }
    Ok(Joined(sock))
}

/// Start reading Landlock's records for the sandbox whose pid 1 is `pid1` (a host pid).
pub fn start(joined: Joined, pid1: i32, collector: Arc<Collector>) -> Result<KernelAudit, String> {
    let sock = joined.0;
    let our_ns = std::fs::read_link(format!("/proc/{pid1}/ns/pid"))
        .map_err(|e| format!("the sandbox's pid namespace: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("report-kaudit".into())
        .spawn(move || read_loop(&sock, &our_ns, &stopping, &collector))
        .map_err(|e| format!("cannot start the reader thread: {e}"))?;
    Ok(KernelAudit { stop, thread })
}

impl KernelAudit {
    /// Stop once the records already queued are read (the sandbox has ended).
    pub fn finish(self) -> ReportSource {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        ReportSource {
            name: super::LANDLOCK_AUDIT.into(),
            active: true,
            detail: "Landlock's own denials (files in the mount view, TCP connect/bind, scopes), from kernel audit".into(),
        }
    }
}

fn read_loop(sock: &OwnedFd, our_ns: &std::path::Path, stop: &AtomicBool, collector: &Collector) {
    // Domain id → ours or not; access records waiting for their domain's record.
    let mut domains: HashMap<String, bool> = HashMap::new();
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(Duration::from_millis(50)).unwrap_or(PollTimeout::NONE);
        match poll(&mut fds, timeout) {
            Ok(0) if stop.load(Ordering::Relaxed) => return,
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let Ok(n) = nix::sys::socket::recv(
            sock.as_raw_fd(),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        ) else {
            continue;
        };
        if n < NLMSG_HDRLEN {
            continue;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let text = String::from_utf8_lossy(&buf[NLMSG_HDRLEN..n]).into_owned();
        let Some(domain) = field(&text, "domain") else {
            continue;
        };
        match kind {
            AUDIT_LANDLOCK_DOMAIN => {
                if let Some(pid) = field(&text, "pid") {
                    let ours = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                        .is_ok_and(|ns| ns == our_ns);
                    domains.insert(domain.clone(), ours);
                    let (now, later): (Vec<_>, Vec<_>) =
                        pending.drain(..).partition(|(d, _)| *d == domain);
                    pending = later;
                    if ours {
                        for (_, access) in now {
                            if let Some(d) = denial(&access) {
                                collector.add(d);
                            }
                        }
                    }
                }
            }
            AUDIT_LANDLOCK_ACCESS => match domains.get(&domain) {
                Some(true) => {
                    if let Some(d) = denial(&text) {
                        collector.add(d);
                    }
                }
                Some(false) => {}
                None if pending.len() < MAX_PENDING => pending.push((domain, text)),
                None => {}
            },
            _ => {}
        }
    }
}

/// The value of `key=` in an audit record: a quoted string, a hex-encoded one (audit's form for
/// values with spaces or control characters), or a bare word.
fn field(text: &str, key: &str) -> Option<String> {
    let at = text
        .match_indices(&format!("{key}="))
        .find(|(i, _)| *i == 0 || text.as_bytes()[i - 1] == b' ')?
        .0
        + key.len()
        + 1;
    let rest = &text[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return Some(quoted[..quoted.find('"')?].to_string());
    }
    let word = &rest[..rest.find(' ').unwrap_or(rest.len())];
    let hex = key == "path"
        && word.len().is_multiple_of(2)
        && word.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let bytes: Option<Vec<u8>> = (0..word.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&word[i..i + 2], 16).ok())
            .collect();
        return Some(String::from_utf8_lossy(&bytes?).into_owned());
    }
    Some(word.to_string())
}

/// The denial an AUDIT_LANDLOCK_ACCESS record describes.
fn denial(text: &str) -> Option<Denial> {
    let blockers = field(text, "blockers")?;
    let first = blockers.split(',').next()?;
    let make = |kind: &str, access: &str, target: String, allow_with: String| Denial {
        kind: kind.into(),
        access: access.into(),
        target,
        allow_with,
        source: super::LANDLOCK_AUDIT.into(),
    };
    if let Some(right) = first.strip_prefix("fs.") {
        let path = field(text, "path")?;
        let access = match right {
            "read_file" | "read_dir" => "read",
            "execute" => "exec",
            _ => "write",
        };
        let allow_with = format!("add \"{path}\" to [filesystem] {access}");
        return Some(make("file", access, path, allow_with));
    }
    if let Some(right) = first.strip_prefix("net.") {
        let port = field(text, "dest").or_else(|| field(text, "src"))?;
        let host = field(text, "daddr")
            .or_else(|| field(text, "saddr"))
            .unwrap_or_else(|| "?".into());
        let access = if right == "bind_tcp" {
            "bind"
        } else {
            "connect"
        };
        let target = format!("{host}:{port}");
        let allow_with = if access == "bind" {
            "no profile rule: the sandbox never listens on TCP ports".to_string()
        } else {
            format!(
                "set [network] mode = \"proxy\", add \"{target}\" (or its host name) to [network] allow, and connect through the proxy"
            )
        };
        return Some(make("network", access, target, allow_with));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_records_become_denials() {
        let fs = "audit(1795431603.628:2): domain=15feb8999 blockers=fs.read_file path=\"/opt/data/x\" dev=\"vda\" ino=247030";
        assert_eq!(field(fs, "domain").as_deref(), Some("15feb8999"));
        let d = denial(fs).unwrap();
        assert_eq!(d.target, "/opt/data/x");
        assert_eq!(d.allow_with, "add \"/opt/data/x\" to [filesystem] read");
        let hex = "audit(1:2): domain=1 blockers=fs.write_file path=2F6F707420782F79 dev=\"vda\"";
        assert_eq!(denial(hex).unwrap().target, "/opt x/y");
        let net = "audit(1:2): domain=1 blockers=net.connect_tcp daddr=10.0.0.1 dest=443";
        let d = denial(net).unwrap();
        assert_eq!(
            (d.kind.as_str(), d.target.as_str()),
            ("network", "10.0.0.1:443")
        );
    }
}
