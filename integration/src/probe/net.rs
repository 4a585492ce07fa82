//! Network escapes: TCP and UDP to a host address, abstract and pathname unix sockets,
//! socket families a sandbox should not hand out, and the interfaces the sandbox can see.
//!
//! Addresses are IP literals only (`127.0.0.1:8080`, `[::1]:8080`): the probe never resolves a
//! name, so a DNS lookup can neither leak nor hang.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::errno::Errno;

use super::sys::{self, CAP_NET_ADMIN, CAP_NET_RAW, io_errno_name};
use super::{Args, Outcome, Probe, ProbeResult};

pub const PROBES: &[Probe] = &[
    Probe {
        name: "tcp-connect",
        args: &["HOST:PORT"],
        about: "TCP connect (3 s timeout) and write one line",
        run: tcp_connect,
    },
    Probe {
        name: "udp-send",
        args: &["HOST:PORT", "MESSAGE"],
        about: "send one UDP datagram (SENT: only the host sees arrival)",
        run: udp_send,
    },
    Probe {
        name: "abstract-connect",
        args: &["NAME"],
        about: "connect to the abstract unix socket @NAME",
        run: abstract_connect,
    },
    Probe {
        name: "unix-connect",
        args: &["PATH"],
        about: "connect to the unix socket at PATH",
        run: unix_connect,
    },
    Probe {
        name: "raw-socket",
        args: &[],
        about: "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)",
        run: raw_socket,
    },
    Probe {
        name: "packet-socket",
        args: &[],
        about: "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)",
        run: packet_socket,
    },
    Probe {
        name: "netlink-route",
        args: &[],
        about: "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) + bind",
        run: netlink_route,
    },
    Probe {
        name: "netlink-change",
        args: &["[--private-ns]"],
        about: "RTM_NEWADDR: add 10.255.77.1/32 to lo (--private-ns: in a new netns first)",
        run: netlink_change,
    },
    Probe {
        name: "vsock-socket",
        args: &[],
        about: "socket(AF_VSOCK, SOCK_STREAM)",
        run: vsock_socket,
    },
    Probe {
        name: "interfaces",
        args: &[],
        about: "list network interfaces; ESCAPED if any besides lo",
        run: interfaces,
    },
];

fn addr(a: &Args, i: usize) -> Result<SocketAddr, Outcome> {
    let raw = a.get(i)?;
    raw.parse().map_err(|_| {
        a.usage_error(&format!(
            "{raw:?} is not IP:PORT (IP literals only, no names)"
        ))
    })
}

fn tcp_connect(a: &Args) -> ProbeResult {
    let to = addr(a, 0)?;
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))
        .map_err(|e| Outcome::blocked(format!("connect {to} errno={}", io_errno_name(&e))))?;
    let wrote = match s.write(b"probe\n") {
        Ok(n) => format!("wrote {n} bytes"),
        Err(e) => format!("write errno={}", io_errno_name(&e)),
    };
    Ok(Outcome::escaped(format!("connected to {to} ({wrote})")))
}

fn udp_send(a: &Args) -> ProbeResult {
    let to = addr(a, 0)?;
    let message = a.get(1)?;
    let local = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let sock = UdpSocket::bind(local)
        .map_err(|e| Outcome::blocked(format!("bind errno={}", io_errno_name(&e))))?;
    let n = sock
        .send_to(message.as_bytes(), to)
        .map_err(|e| Outcome::blocked(format!("sendto {to} errno={}", io_errno_name(&e))))?;
    Ok(Outcome::sent(format!("sendto {to} returned {n} bytes")))
}

fn abstract_connect(a: &Args) -> ProbeResult {
    let name = a.get(0)?;
    let sa = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(|_| a.usage_error("NAME is too long for an abstract socket"))?;
    UnixStream::connect_addr(&sa)
        .map_err(|e| Outcome::blocked(format!("connect @{name} errno={}", io_errno_name(&e))))?;
    Ok(Outcome::escaped(format!("connected to @{name}")))
}

fn unix_connect(a: &Args) -> ProbeResult {
    let path = a.get(0)?;
    UnixStream::connect(path)
        .map_err(|e| Outcome::blocked(format!("connect {path} errno={}", io_errno_name(&e))))?;
    Ok(Outcome::escaped(format!("connected to {path}")))
}

/// socket(domain, type, protocol) as an OwnedFd (closed on drop).
fn socket(domain: i32, ty: i32, protocol: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: socket takes only integers.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A socket-creation probe: ESCAPED if created; on failure `note` may explain a denial that
/// comes from the kernel rather than from a sandbox.
fn socket_probe(
    call: &str,
    domain: i32,
    ty: i32,
    protocol: i32,
    note: fn(Errno) -> Option<String>,
) -> ProbeResult {
    match socket(domain, ty, protocol) {
        Ok(_fd) => Ok(Outcome::escaped(format!("{call} created (closed)"))),
        Err(e) => Err(Outcome::denied(call, e).note(note(e))),
    }
}

/// Raw and packet sockets need CAP_NET_RAW over the network namespace (from its owning user
/// namespace, so ns-root in a sandbox has it for its own netns): without it the kernel says EPERM.
fn raw_note(e: Errno) -> Option<String> {
    if e != Errno::EPERM {
        return None;
    }
    sys::inconclusive_without(CAP_NET_RAW, "CAP_NET_RAW", false)
}

/// EAFNOSUPPORT is also what a kernel without vsock says; /proc/net/protocols tells.
fn vsock_note(e: Errno) -> Option<String> {
    let missing = e == Errno::EAFNOSUPPORT && !kernel_has_vsock().unwrap_or(true);
    missing.then(|| "inconclusive: this kernel has no AF_VSOCK".to_string())
}

fn raw_socket(_: &Args) -> ProbeResult {
    let call = "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)";
    socket_probe(
        call,
        libc::AF_INET,
        libc::SOCK_RAW,
        libc::IPPROTO_ICMP,
        raw_note,
    )
}

fn packet_socket(_: &Args) -> ProbeResult {
    let proto = i32::from((libc::ETH_P_ALL as u16).to_be());
    socket_probe(
        "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)",
        libc::AF_PACKET,
        libc::SOCK_RAW,
        proto,
        raw_note,
    )
}

fn vsock_socket(_: &Args) -> ProbeResult {
    socket_probe(
        "socket(AF_VSOCK, SOCK_STREAM)",
        libc::AF_VSOCK,
        libc::SOCK_STREAM,
        0,
        vsock_note,
    )
}

fn netlink_route(_: &Args) -> ProbeResult {
    let fd = socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
        .map_err(|e| Outcome::denied("socket(AF_NETLINK, NETLINK_ROUTE)", e))?;
    // SAFETY: sockaddr_nl is plain old data; all-zero is valid before the fields are set.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    let len = std::mem::size_of_val(&sa) as libc::socklen_t;
    // SAFETY: fd is an open socket; sa is a valid sockaddr_nl and len is its size.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sa).cast::<libc::sockaddr>(),
            len,
        )
    };
    if ret < 0 {
        return Err(Outcome::denied("bind(AF_NETLINK)", Errno::last()));
    }
    Ok(Outcome::escaped(
        "netlink route socket created and bound (closed)",
    ))
}

fn kernel_has_vsock() -> Option<bool> {
    let p = std::fs::read_to_string("/proc/net/protocols").ok()?;
    Some(p.lines().any(|l| l.starts_with("AF_VSOCK")))
}

fn interfaces(_: &Args) -> ProbeResult {
    let (names, source) = match if_nameindex() {
        Ok(n) => (n, "if_nameindex"),
        Err(e) => {
            // glibc's if_nameindex needs a netlink socket, which a sandbox may deny;
            // /proc/net/dev lists the same devices of our network namespace.
            let dev = std::fs::read_to_string("/proc/net/dev").map_err(|e2| {
                Outcome::blocked(format!(
                    "if_nameindex errno={}; read /proc/net/dev errno={}",
                    sys::errno_name(e),
                    io_errno_name(&e2)
                ))
            })?;
            (
                dev.lines()
                    .skip(2)
                    .filter_map(|l| l.split(':').next())
                    .map(|s| s.trim().to_string())
                    .collect(),
                "/proc/net/dev",
            )
        }
    };
    let others: Vec<&String> = names.iter().filter(|n| n.as_str() != "lo").collect();
    if others.is_empty() {
        let seen = if names.is_empty() {
            "no interfaces"
        } else {
            "only lo"
        };
        return Ok(Outcome::blocked(format!("{seen} ({source})")));
    }
    let list: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
    Ok(Outcome::escaped(format!(
        "interfaces besides lo: {} ({source})",
        list.join(",")
    )))
}

fn if_nameindex() -> Result<Vec<String>, Errno> {
    // SAFETY: if_nameindex returns NULL (errno set) or an array terminated by a zero entry,
    // which stays valid until if_freenameindex below.
    let head = unsafe { libc::if_nameindex() };
    if head.is_null() {
        return Err(Errno::last());
    }
    let mut names = Vec::new();
    let mut p = head;
    // SAFETY: walking the array up to its terminator; each if_name is a NUL-terminated string
    // owned by the array. The array is freed once, after the walk.
    unsafe {
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            names.push(
                std::ffi::CStr::from_ptr((*p).if_name)
                    .to_string_lossy()
                    .into_owned(),
            );
            p = p.add(1);
        }
        libc::if_freenameindex(head);
    }
    Ok(names)
}

/// The address `netlink-change` adds to `lo`: 10.255.77.1/32.
const CHANGE_ADDR: [u8; 4] = [10, 255, 77, 1];

/// Ask the kernel to add an address to `lo` over rtnetlink and read its acknowledgement. The
/// positive control runs with `--private-ns`, in a network namespace of its own (and a user
/// namespace owning it when not root), so the host's interfaces are never touched.
fn netlink_change(a: &Args) -> ProbeResult {
    let private = match a.opt(0) {
        None => false,
        Some("--private-ns") => true,
        Some(other) => return Err(a.usage_error(&format!("unknown option {other:?}"))),
    };
    if private {
        enter_private_net_ns()?;
    } else if let Ok(dev) = std::fs::read_to_string("/proc/net/dev") {
        // Never change a namespace with real interfaces (the host's): a sandbox has only lo.
        let real = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .any(|n| n.trim() != "lo");
        if real {
            return Err(a.usage_error(
                "this network namespace has interfaces besides lo (the host's?): \
                 pass --private-ns",
            ));
        }
    }
    let fd = socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
        .map_err(|e| Outcome::denied("socket(AF_NETLINK, NETLINK_ROUTE)", e))?;
    // nlmsghdr (16) + ifaddrmsg (8) + IFA_LOCAL (8) + IFA_ADDRESS (8).
    let mut msg: Vec<u8> = Vec::with_capacity(40);
    msg.extend_from_slice(&40u32.to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_NEWADDR.to_ne_bytes());
    let flags =
        (libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns it
    // ifaddrmsg: AF_INET, /32, no flags, universe scope, lo (always ifindex 1 in a netns).
    msg.extend_from_slice(&[libc::AF_INET as u8, 32, 0, 0]);
    msg.extend_from_slice(&1u32.to_ne_bytes());
    for kind in [libc::IFA_LOCAL, libc::IFA_ADDRESS] {
        msg.extend_from_slice(&8u16.to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&CHANGE_ADDR);
    }
    // SAFETY: fd is an open netlink socket; msg is a live buffer of msg.len() bytes; with no
    // destination address the message goes to the kernel.
    let sent = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if sent < 0 {
        return Err(Outcome::denied("send(RTM_NEWADDR)", Errno::last()));
    }
    let mut reply = [0u8; 256];
    // SAFETY: reply is a writable buffer of its own length.
    let got = unsafe { libc::recv(fd.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
    if got < 20 {
        return Err(Outcome::error(format!(
            "no acknowledgement (recv returned {got}, errno={})",
            sys::errno_name(Errno::last())
        )));
    }
    let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
    let ns = if private {
        "a private netns"
    } else {
        "this netns"
    };
    if code == 0 {
        return Ok(Outcome::escaped(format!(
            "added 10.255.77.1/32 to lo in {ns}"
        )));
    }
    let e = Errno::from_raw(-code);
    let note = (e == Errno::EPERM)
        .then(|| sys::inconclusive_without(CAP_NET_ADMIN, "CAP_NET_ADMIN", false))
        .flatten();
    Err(Outcome::denied("RTM_NEWADDR", e).note(note))
}

/// For the positive control: a new network namespace (and, for a non-root caller, a user
/// namespace owning it, mapping ns-root to the caller).
fn enter_private_net_ns() -> Result<(), Outcome> {
    use nix::sched::{CloneFlags, unshare};
    let uid = nix::unistd::geteuid();
    let flags = if uid.is_root() {
        CloneFlags::CLONE_NEWNET
    } else {
        CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUSER
    };
    unshare(flags).map_err(|e| Outcome::denied(format!("unshare({flags:?})"), e))?;
    if !uid.is_root() {
        let maps = [
            ("/proc/self/setgroups", "deny".to_string()),
            ("/proc/self/uid_map", format!("0 {uid} 1")),
            (
                "/proc/self/gid_map",
                format!("0 {} 1", nix::unistd::getegid()),
            ),
        ];
        for (path, content) in maps {
            std::fs::write(path, content).map_err(|e| {
                Outcome::error(format!("write {path}: errno={}", io_errno_name(&e)))
            })?;
        }
    }
    Ok(())
}
