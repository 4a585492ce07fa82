//! Scenarios: host loopback, unix sockets, raw and packet sockets, netlink, interfaces, the proxy.

use super::*;

/// Connect to host listener `l`; the host checks whether it accepted anything.
fn tcp_connect_attempt(l: TcpListener) -> Result<Attempt, Skip> {
    l.set_nonblocking(true).map_err(|e| err("listener", e))?;
    let addr = l.local_addr().map_err(|e| err("listener", e))?;
    let mut a = Attempt::new(&[addr.to_string()]);
    a.evidence.push(Evidence::TcpAccept(l));
    Ok(a)
}

pub(super) static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "tcp-loopback",
        probe: Some("tcp-connect"),
        area: Area::Network,
        threat: "TCP to a service on the host's loopback (127.0.0.1)",
        mechanism: "network namespace (own lo only); Landlock TCP connect",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
            tcp_connect_attempt(l)
        },
    },
    Scenario {
        name: "tcp6-loopback",
        probe: Some("tcp-connect"),
        area: Area::Network,
        threat: "TCP to a service on the host's IPv6 loopback (::1)",
        mechanism: "network namespace; Landlock TCP connect",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let l = TcpListener::bind("[::1]:0")
                .map_err(|e| Skip::Reason(format!("this host has no IPv6 loopback: {e}")))?;
            tcp_connect_attempt(l)
        },
    },
    Scenario {
        name: "udp-loopback",
        probe: Some("udp-send"),
        area: Area::Network,
        threat: "UDP to the host's loopback",
        mechanism: "network namespace",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| err("udp socket", e))?;
            sock.set_nonblocking(true)
                .map_err(|e| err("udp socket", e))?;
            let addr = sock.local_addr().map_err(|e| err("udp socket", e))?;
            let mut a = Attempt::new(&[addr.to_string(), "escape".into()]);
            a.evidence.push(Evidence::UdpRecv(sock));
            Ok(a)
        },
    },
    Scenario {
        name: "abstract-unix",
        probe: Some("abstract-connect"),
        area: Area::Network,
        threat: "connect to a host abstract unix socket (X11, D-Bus)",
        mechanism: "network namespace (abstract names are per netns); Landlock abstract scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let name = format!("missy-hardening-{}", fx.tag);
            let addr = SocketAddr::from_abstract_name(name.as_bytes())
                .map_err(|e| err("abstract name", e))?;
            let l = UnixListener::bind_addr(&addr).map_err(|e| err("abstract listener", e))?;
            l.set_nonblocking(true).map_err(|e| err("listener", e))?;
            let mut a = Attempt::new(&[name]);
            a.evidence.push(Evidence::UnixAccept(l));
            Ok(a)
        },
    },
    Scenario {
        name: "unix-pathname",
        probe: Some("unix-connect"),
        area: Area::Network,
        threat: "connect to a host pathname unix socket outside the workspace (docker.sock)",
        mechanism: "mount namespace: the socket file does not exist inside",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let path = fx.dir.outside.join("host.sock");
            let l = UnixListener::bind(&path).map_err(|e| err("unix listener", e))?;
            l.set_nonblocking(true).map_err(|e| err("listener", e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
                .map_err(|e| err("chmod socket", e))?;
            let mut a = Attempt::new(&[s(&path)]);
            a.evidence.push(Evidence::UnixAccept(l));
            Ok(a)
        },
    },
    Scenario {
        name: "raw-socket",
        probe: Some("raw-socket"),
        area: Area::Network,
        threat: "raw IP sockets (spoofing, sniffing)",
        mechanism: "no CAP_NET_RAW; network namespace",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "packet-socket",
        probe: Some("packet-socket"),
        area: Area::Network,
        threat: "packet sockets (link-layer access)",
        mechanism: "seccomp: socket families other than unix/inet/inet6 EAFNOSUPPORT; no CAP_NET_RAW",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "netlink-socket",
        probe: Some("netlink-route"),
        area: Area::Network,
        threat: "open a netlink route socket",
        mechanism: "seccomp: AF_NETLINK EAFNOSUPPORT",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "netlink-change",
        probe: Some("netlink-change"),
        area: Area::Network,
        threat: "change network configuration over netlink (add an address)",
        mechanism: "seccomp: AF_NETLINK EAFNOSUPPORT; no CAP_NET_ADMIN",
        pending: None,
        exclusive: false,
        prepare: |_, side| {
            // The control changes a private network namespace, never the host's.
            if side.is_control() {
                Ok(Attempt::new(&["--private-ns"]))
            } else {
                Ok(Attempt::new::<&str>(&[]))
            }
        },
    },
    Scenario {
        name: "vsock-socket",
        probe: Some("vsock-socket"),
        area: Area::Network,
        threat: "vsock to the hypervisor",
        mechanism: "seccomp: socket families other than unix/inet/inet6 EAFNOSUPPORT",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "interfaces",
        probe: Some("interfaces"),
        area: Area::Network,
        threat: "see the host's network interfaces",
        mechanism: "network namespace: only its own lo",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    Scenario {
        name: "proxy-bypass",
        probe: Some("proxy-bypass"),
        area: Area::Network,
        threat: "reach an allowed host without going through the egress proxy",
        mechanism: "network namespace (own lo only) + Landlock TCP connect to the proxy port only",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let target = TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
            let port = target.local_addr().map_err(|e| err("listener", e))?.port();
            let mut a = tcp_connect_attempt(target)?;
            // The same host service on the proxy's own port: Landlock lets the workload connect
            // to that port, so only the network namespace keeps this one out of reach.
            if let Some(l) = on_proxy_port(&fx.tag) {
                let addr = l.local_addr().map_err(|e| err("listener", e))?;
                l.set_nonblocking(true).map_err(|e| err("listener", e))?;
                a.args[0] = format!("{},{addr}", a.args[0]);
                a.evidence.push(Evidence::TcpAccept(l));
            }
            let canary = TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
            let cport = canary.local_addr().map_err(|e| err("listener", e))?.port();
            a.allowed.push(canary);
            a.args.push(format!("canary.test:{cport}"));
            // The target is an allowed host, reachable through the proxy (allow_cidrs names
            // its address): only the way around the proxy is closed.
            a.profile_extra = Some(format!(
                "[network]\nmode = \"proxy\"\n\
                 allow = [\"canary.test:{cport}\", \"target.test:{port}\"]\n\
                 allow_cidrs = [\"127.0.0.1/32\"]\n\
                 hosts = {{ \"canary.test\" = \"127.0.0.1\", \"target.test\" = \"127.0.0.1\" }}\n"
            ));
            a.env.push((DNS_SWITCH.into(), "off".into()));
            Ok(a)
        },
    },
    Scenario {
        name: "proxy-ssrf",
        probe: Some("proxy-ssrf"),
        area: Area::Network,
        threat: "SSRF / DNS rebinding through the proxy to the host's loopback (every spelling)",
        mechanism: "egress proxy: literal addresses in any spelling and names' resolved addresses vetted against the blocked ranges and allow_cidrs",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let target = TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
            let port = target.local_addr().map_err(|e| err("listener", e))?.port();
            let mut a = tcp_connect_attempt(target)?;
            // The canary sits on another loopback address that allow_cidrs names: the proxy
            // reaches loopback when the profile says so, and 127.0.0.1 is not said.
            let canary = TcpListener::bind("127.0.0.2:0").map_err(|e| err("listener", e))?;
            let cport = canary.local_addr().map_err(|e| err("listener", e))?.port();
            a.allowed.push(canary);
            a.args.push(format!("canary.test:{cport}"));
            a.args.push("rebind.test,localhost".into());
            a.profile_extra = Some(format!(
                "[network]\nmode = \"proxy\"\n\
                 allow = [\"canary.test:{cport}\", \"rebind.test:{port}\", \"localhost:{port}\"]\n\
                 allow_cidrs = [\"127.0.0.2/32\"]\n\
                 hosts = {{ \"canary.test\" = \"127.0.0.2\", \"rebind.test\" = \"127.0.0.1\", \"localhost\" = \"127.0.0.1\" }}\n"
            ));
            a.env.push((DNS_SWITCH.into(), "off".into()));
            Ok(a)
        },
    },
];

/// `missy-sandbox`'s switch that keeps the supervisor from asking DNS about names outside the
/// profile's `hosts` map: no scenario may send a query.
const DNS_SWITCH: &str = "MISSY_EGRESS_DNS";

/// The port the sandbox's proxy listens on (`egress::PROXY_PORT`), the one port Landlock lets
/// a proxy-mode workload connect to.
const PROXY_PORT: u16 = 3128;

/// A host listener on [`PROXY_PORT`] at a loopback address of this cell's own (127.77.x.y, from
/// its tag), or None when every candidate is taken.
fn on_proxy_port(tag: &str) -> Option<TcpListener> {
    let seed = tag
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (0..8u32).find_map(|i| {
        let h = seed.wrapping_add(i.wrapping_mul(7919));
        let ip = std::net::Ipv4Addr::new(127, 77, (h >> 8) as u8, (h as u8).max(1));
        TcpListener::bind((ip, PROXY_PORT)).ok()
    })
}
