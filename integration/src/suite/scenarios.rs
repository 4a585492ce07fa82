//! The catalogue: one scenario per escape attempt, each naming the threat (docs/threat-model.md)
//! and the controls that stop it, and preparing its attempt for one cell: the probe's
//! arguments, the host fixtures it targets and the evidence the host checks afterwards.
//!
//! A scenario may prepare the control and the sandboxed run differently only where the control
//! would otherwise harm the host (a mount or netlink change goes into a private namespace) or
//! must target the host equivalent of a sandbox-only object (pid 1).

use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixListener};

use super::host::{Evidence, HostProcess, disk_available, mem_available};
use super::{Area, Attempt, Fixture, Side, Skip};

const MIB: u64 = 1 << 20;

fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A fixture that cannot be built fails the cell: a check that did not run is not a pass.
fn err(what: &str, e: impl std::fmt::Display) -> Skip {
    Skip::Broken(format!("host fixture failed: {what}: {e}"))
}

fn secret(fx: &Fixture) -> Result<String, Skip> {
    fx.dir
        .file(fx.dir.outside.join("secret.txt"), "top secret\n")
        .map(|p| s(&p))
        .map_err(|e| err("secret file", e))
}

fn sleeper(fx: &Fixture, env: &[(&str, &str)]) -> Result<HostProcess, Skip> {
    HostProcess::sleeper(fx.user, env).map_err(|e| err("host sleeper", e))
}

/// A limit the sandboxed cell tests, or the reason there is none to test.
fn limit(side: Side, value: Option<u64>, key: &str) -> Result<u64, Skip> {
    value.ok_or_else(|| {
        Skip::Reason(match side {
            Side::Control { .. } => format!("no profile under test sets limits.{key}"),
            Side::Sandbox { profile } => format!(
                "{} sets no limits.{key}: nothing to enforce (the profiles extending it set one)",
                profile.name
            ),
        })
    })
}

macro_rules! plain {
    ($($arg:expr),*) => {
        |_: &Fixture, _: Side| Ok(Attempt::new(&[$($arg),*] as &[&str]))
    };
}

pub static CATALOGUE: &[super::Scenario] = &[
    // ---------------------------------------------------------------- filesystem
    super::Scenario {
        name: "read-outside",
        probe: Some("read-file"),
        area: Area::Filesystem,
        threat: "read a file outside the grants",
        mechanism: "mount namespace (only granted paths exist); Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[secret(fx)?])),
    },
    super::Scenario {
        name: "write-outside",
        probe: Some("write-file"),
        area: Area::Filesystem,
        threat: "create a file outside the grants",
        mechanism: "mount namespace; read-only binds; Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let target = fx.dir.outside.join("planted.txt");
            let mut a = Attempt::new(&[s(&target)]);
            a.evidence.push(Evidence::FileAppears(target));
            Ok(a)
        },
    },
    super::Scenario {
        name: "symlink-escape",
        probe: Some("symlink-escape"),
        area: Area::Filesystem,
        threat: "read outside through a symlink planted in the workspace",
        mechanism: "the target is not mounted; Landlock checks the resolved path",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[s(&fx.dir.ws.join("link")), secret(fx)?])),
    },
    super::Scenario {
        name: "hardlink-escape",
        probe: Some("hardlink-escape"),
        area: Area::Filesystem,
        threat: "write outside through a hard link planted in the workspace",
        mechanism: "the target is not mounted; link() across mounts fails (EXDEV); Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[s(&fx.dir.ws.join("hlink")), secret(fx)?])),
    },
    super::Scenario {
        name: "rename-out",
        probe: Some("rename-escape"),
        area: Area::Filesystem,
        threat: "rename a workspace file to a place outside the grants",
        mechanism: "the destination is not mounted; rename() across mounts fails (EXDEV); Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let from = fx
                .dir
                .file(fx.dir.ws.join("payload.txt"), "payload\n")
                .map_err(|e| err("workspace file", e))?;
            let to = fx.dir.outside.join("moved-out.txt");
            let mut a = Attempt::new(&[s(&from), s(&to)]);
            a.evidence.push(Evidence::FileAppears(to));
            Ok(a)
        },
    },
    super::Scenario {
        name: "rename-in",
        probe: Some("rename-escape"),
        area: Area::Filesystem,
        threat: "rename a host file into the workspace (steal it)",
        mechanism: "the source is not mounted; Landlock",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let from = secret(fx)?;
            let to = fx.dir.ws.join("stolen.txt");
            let mut a = Attempt::new(&[from, s(&to)]);
            a.evidence.push(Evidence::FileAppears(to));
            Ok(a)
        },
    },
    super::Scenario {
        name: "proc-root-traversal",
        probe: Some("read-file"),
        area: Area::Filesystem,
        threat: "read a host file through /proc/PID/root of a host process",
        mechanism: "pid namespace with its own procfs: host processes have no entry",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let path = secret(fx)?;
            let victim = sleeper(fx, &[])?;
            let mut a = Attempt::new(&[format!("/proc/{}/root{path}", victim.pid())]);
            a.victims.push(victim);
            Ok(a)
        },
    },
    super::Scenario {
        name: "proc-environ",
        probe: Some("proc-environ"),
        area: Area::Filesystem,
        threat: "read a host process's environment through /proc/PID/environ",
        mechanism: "pid namespace with its own procfs; Landlock ptrace scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let marker = format!("MISSY_MARKER_{}", fx.tag);
            let victim = sleeper(fx, &[("MISSY_TEST_MARKER", &marker)])?;
            let mut a = Attempt::new(&[victim.pid().to_string(), marker]);
            a.victims.push(victim);
            Ok(a)
        },
    },
    super::Scenario {
        name: "open-by-handle",
        probe: Some("open-by-handle"),
        area: Area::Filesystem,
        threat: "open a file by handle, bypassing path checks",
        mechanism: "seccomp: open_by_handle_at, name_to_handle_at EPERM; no CAP_DAC_READ_SEARCH",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let f = fx
                .dir
                .file(fx.dir.ws.join("handle.txt"), "by handle\n")
                .map_err(|e| err("workspace file", e))?;
            Ok(Attempt::new(&[s(&f)]))
        },
    },
    super::Scenario {
        name: "mknod",
        probe: Some("mknod"),
        area: Area::Filesystem,
        threat: "create a device node",
        mechanism: "no CAP_MKNOD in the initial user namespace; nodev mounts",
        pending: None,
        exclusive: false,
        prepare: |fx, _| Ok(Attempt::new(&[s(&fx.dir.ws.join("node"))])),
    },
    super::Scenario {
        name: "device-read",
        probe: Some("device-read"),
        area: Area::Filesystem,
        threat: "open a host device node (the disk) and read it",
        mechanism: "mount namespace: a minimal /dev without host devices; no capabilities",
        pending: None,
        exclusive: false,
        prepare: |fx, _| match &fx.env.device {
            Some(d) => Ok(Attempt::new(&[s(d)])),
            None => Err("this host has no device node to try".into()),
        },
    },
    super::Scenario {
        name: "proc-sys-write",
        probe: Some("proc-sys-write"),
        area: Area::Filesystem,
        threat: "write a sysctl through /proc/sys",
        mechanism: "/proc/sys sysctls belong to the initial user namespace; Landlock /proc read-only",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "setuid-plant",
        probe: Some("setuid-plant"),
        area: Area::Filesystem,
        threat: "plant a setuid program in the workspace for the host to run",
        mechanism: "seccomp: chmod/open/mknod with S_ISUID|S_ISGID EPERM; nosuid binds",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let path = fx.dir.ws.join("planted-suid");
            let mut a = Attempt::new(&[s(&path)]);
            // The probe removes its copy; the host looks for one that stayed setuid (the
            // control's own copy is removed by design, so there is nothing to see there).
            if !side.is_control() {
                a.evidence.push(Evidence::SetuidFile(path));
            }
            Ok(a)
        },
    },
    // ---------------------------------------------------------------- processes
    super::Scenario {
        name: "setuid-exec",
        probe: Some("setuid-exec"),
        area: Area::Processes,
        threat: "gain another identity by executing a setuid program",
        mechanism: "no_new_privs; nosuid mounts; capabilities cleared",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let Some(src) = &fx.env.setuid_copy else {
                return Err("making a setuid file owned by another uid needs a root runner".into());
            };
            let link = fx.dir.ws.join("setuid-probe");
            std::fs::hard_link(src, &link).map_err(|e| err("link the setuid copy", e))?;
            Ok(Attempt::new(&[s(&link)]))
        },
    },
    super::Scenario {
        name: "ptrace-child",
        probe: Some("ptrace-child"),
        area: Area::Processes,
        threat: "ptrace (here its own child: the call itself)",
        mechanism: "seccomp: ptrace EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "ptrace-host",
        probe: Some("ptrace"),
        area: Area::Processes,
        threat: "ptrace a host process",
        mechanism: "pid namespace; seccomp ptrace EPERM; Landlock ptrace scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let victim = sleeper(fx, &[])?;
            let mut a = Attempt::new(&[victim.pid().to_string()]);
            a.victims.push(victim);
            Ok(a)
        },
    },
    super::Scenario {
        name: "process-vm-readv",
        probe: Some("process-vm-readv"),
        area: Area::Processes,
        threat: "read another process's memory with process_vm_readv",
        mechanism: "seccomp: process_vm_readv/writev EPERM; pid namespace",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "signal-host",
        probe: Some("kill"),
        area: Area::Processes,
        threat: "signal a host process",
        mechanism: "pid namespace; Landlock signal scope",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let victim = sleeper(fx, &[])?;
            let mut a = Attempt::new(&[victim.pid().to_string()]);
            a.evidence.push(Evidence::VictimDies(victim));
            Ok(a)
        },
    },
    super::Scenario {
        name: "unshare-user",
        probe: Some("unshare-user"),
        area: Area::Processes,
        threat: "create a new user namespace",
        mechanism: "seccomp: unshare, setns EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "clone-newuser",
        probe: Some("clone-newuser"),
        area: Area::Processes,
        threat: "create a new user namespace through clone",
        mechanism: "seccomp: clone with CLONE_NEW* flags EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "clone3",
        probe: Some("clone3"),
        area: Area::Processes,
        threat: "clone3, whose flags seccomp cannot read",
        mechanism: "seccomp: clone3 ENOSYS (libc falls back to clone)",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "mount",
        probe: Some("mount"),
        area: Area::Processes,
        threat: "mount a filesystem",
        mechanism: "seccomp: mount EPERM; no capabilities",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let dir = fx.dir.ws.join("mnt");
            std::fs::create_dir_all(&dir).map_err(|e| err("mount point", e))?;
            fx.user
                .chown(&dir)
                .map_err(|e| err("chown mount point", e))?;
            // The control mounts in a private mount namespace so the host's table is untouched.
            if side.is_control() {
                Ok(Attempt::new(&[s(&dir), "--private-ns".into()]))
            } else {
                Ok(Attempt::new(&[s(&dir)]))
            }
        },
    },
    super::Scenario {
        name: "io-uring",
        probe: Some("io-uring"),
        area: Area::Processes,
        threat: "io_uring (I/O without the filtered system calls)",
        mechanism: "seccomp: io_uring_setup/enter/register EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "tiocsti",
        probe: Some("tiocsti"),
        area: Area::Processes,
        threat: "inject keystrokes into the terminal with TIOCSTI",
        mechanism: "seccomp: ioctl TIOCSTI (low 32 bits) EPERM; new session",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let mut a = Attempt::new(&["0"]);
            a.pty_stdin = true;
            Ok(a)
        },
    },
    super::Scenario {
        name: "keyctl",
        probe: Some("keyctl"),
        area: Area::Processes,
        threat: "kernel keyrings shared outside the namespaces",
        mechanism: "seccomp: keyctl, add_key, request_key EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "bpf",
        probe: Some("bpf"),
        area: Area::Processes,
        threat: "load BPF programs",
        mechanism: "seccomp: bpf EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "perf-event-open",
        probe: Some("perf-event-open"),
        area: Area::Processes,
        threat: "perf events (side channels, kernel attack surface)",
        mechanism: "seccomp: perf_event_open EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "userfaultfd",
        probe: Some("userfaultfd"),
        area: Area::Processes,
        threat: "userfaultfd (a kernel-exploit staple)",
        mechanism: "seccomp: userfaultfd EPERM",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "init-module",
        probe: Some("init-module"),
        area: Area::Processes,
        threat: "load a kernel module",
        mechanism: "seccomp: init_module, finit_module EPERM; no CAP_SYS_MODULE",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "personality",
        probe: Some("personality"),
        area: Area::Processes,
        threat: "disable ASLR through personality flags",
        mechanism: "seccomp: only the plain personas are allowed",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "x32",
        probe: Some("x32"),
        area: Area::Processes,
        threat: "x32 system call numbers slipping past the filter",
        mechanism: "seccomp x32 guard",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "daemon-survives",
        probe: Some("daemonize"),
        area: Area::Processes,
        threat: "a daemon (double fork + setsid) outlives the sandbox",
        mechanism: "pid namespace: the kernel kills it when pid 1 exits",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            // The tag is in the daemon's command line, so the host finds it in /proc whether
            // or not it can write its heartbeat (base grants nothing writable).
            let beat = fx.dir.ws.join(format!("{}-heartbeat", fx.tag));
            let mut a = Attempt::new(&[s(&beat), "10".into()]);
            a.evidence.push(Evidence::Survivor(s(&beat)));
            Ok(a)
        },
    },
    super::Scenario {
        name: "supervisor-killed",
        probe: Some("linger"),
        area: Area::Processes,
        threat: "the sandbox outlives a SIGKILLed supervisor",
        mechanism: "PR_SET_PDEATHSIG at every level; pid namespace",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            // Unsandboxed, killing the probe leaves its forked child running: the control.
            let tag = format!("{}-orphan", fx.tag);
            let mut a = Attempt::new(&["30".to_string(), tag.clone()]);
            a.kill_after = Some(std::time::Duration::from_millis(1500));
            a.evidence.push(Evidence::Survivor(tag));
            Ok(a)
        },
    },
    super::Scenario {
        name: "wall-time",
        probe: Some("linger"),
        area: Area::Resources,
        threat: "run forever (here: past a 1 s wall clock)",
        mechanism: "wall_time / --timeout: the supervisor kills the whole tree (exit 124)",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            // The profiles' own wall clocks are minutes to hours; the mechanism is the same
            // with `--timeout 1s`, which the sandboxed run uses.
            let mut a = Attempt::new(&["4".to_string(), format!("{}-linger", fx.tag)]);
            // Unsandboxed the probe and its child end together after 4 s: no survivor to see.
            if !side.is_control() {
                a.timeout = Some("1s");
                a.forced_stops.push((124, "killed by the wall-time limit"));
                a.evidence
                    .push(Evidence::Survivor(format!("{}-linger", fx.tag)));
            }
            Ok(a)
        },
    },
    // ---------------------------------------------------------------- network
    super::Scenario {
        name: "tcp-loopback",
        probe: Some("tcp-connect"),
        area: Area::Network,
        threat: "TCP to a service on the host's loopback (127.0.0.1)",
        mechanism: "network namespace (own lo only); Landlock TCP connect",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| err("listener", e))?;
            l.set_nonblocking(true).map_err(|e| err("listener", e))?;
            let addr = l.local_addr().map_err(|e| err("listener", e))?;
            let mut a = Attempt::new(&[addr.to_string()]);
            a.evidence.push(Evidence::TcpAccept(l));
            Ok(a)
        },
    },
    super::Scenario {
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
            l.set_nonblocking(true).map_err(|e| err("listener", e))?;
            let addr = l.local_addr().map_err(|e| err("listener", e))?;
            let mut a = Attempt::new(&[addr.to_string()]);
            a.evidence.push(Evidence::TcpAccept(l));
            Ok(a)
        },
    },
    super::Scenario {
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
    super::Scenario {
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
    super::Scenario {
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
    super::Scenario {
        name: "raw-socket",
        probe: Some("raw-socket"),
        area: Area::Network,
        threat: "raw IP sockets (spoofing, sniffing)",
        mechanism: "no CAP_NET_RAW; network namespace",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "packet-socket",
        probe: Some("packet-socket"),
        area: Area::Network,
        threat: "packet sockets (link-layer access)",
        mechanism: "seccomp: socket families other than unix/inet/inet6 EAFNOSUPPORT; no CAP_NET_RAW",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "netlink-socket",
        probe: Some("netlink-route"),
        area: Area::Network,
        threat: "open a netlink route socket",
        mechanism: "seccomp: AF_NETLINK EAFNOSUPPORT",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
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
    super::Scenario {
        name: "vsock-socket",
        probe: Some("vsock-socket"),
        area: Area::Network,
        threat: "vsock to the hypervisor",
        mechanism: "seccomp: socket families other than unix/inet/inet6 EAFNOSUPPORT",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "interfaces",
        probe: Some("interfaces"),
        area: Area::Network,
        threat: "see the host's network interfaces",
        mechanism: "network namespace: only its own lo",
        pending: None,
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "proxy-bypass",
        probe: None,
        area: Area::Network,
        threat: "reach an allowed host without going through the egress proxy",
        mechanism: "egress proxy (planned)",
        pending: Some("no proxy yet"),
        exclusive: false,
        prepare: plain!(),
    },
    super::Scenario {
        name: "proxy-ssrf",
        probe: None,
        area: Area::Network,
        threat: "SSRF / DNS rebinding through the proxy to metadata or private ranges",
        mechanism: "egress proxy host/CIDR policy (planned)",
        pending: Some("no proxy yet"),
        exclusive: false,
        prepare: plain!(),
    },
    // ---------------------------------------------------------------- secrets
    super::Scenario {
        name: "inherited-fd",
        probe: Some("inherited-fd"),
        area: Area::Secrets,
        threat: "read a secret through an inherited file descriptor",
        mechanism: "every descriptor above 3 closed before the workload starts",
        pending: None,
        exclusive: false,
        prepare: |fx, _| {
            let mut a = Attempt::new(&["7"]);
            a.inherit_fd = Some((secret(fx)?.into(), 7));
            Ok(a)
        },
    },
    super::Scenario {
        name: "env-token",
        probe: Some("env"),
        area: Area::Secrets,
        threat: "read a secret from the environment (GITHUB_TOKEN)",
        mechanism: "environment cleared and rebuilt from the profile",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let mut a = Attempt::new(&["GITHUB_TOKEN"]);
            a.env.push(("GITHUB_TOKEN".into(), "ghp_s3cr3t".into()));
            Ok(a)
        },
    },
    super::Scenario {
        name: "env-glob-secret",
        probe: Some("env"),
        area: Area::Secrets,
        threat: "a secret slipping through a pass-through glob (LC_API_TOKEN via LC_*)",
        mechanism: "secret-looking names never pass through a glob",
        pending: None,
        exclusive: false,
        prepare: |_, _| {
            let mut a = Attempt::new(&["LC_API_TOKEN"]);
            a.env.push(("LC_API_TOKEN".into(), "s3cr3t".into()));
            Ok(a)
        },
    },
    super::Scenario {
        name: "supervisor-environ",
        probe: Some("proc-environ"),
        area: Area::Secrets,
        threat: "read the supervisor's environment from the sandbox's pid 1 (its fork)",
        mechanism: "monitor and pid 1 non-dumpable; no CAP_SYS_PTRACE; Landlock ptrace scope",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let marker = format!("MISSY_SUPERVISOR_SECRET_{}", fx.tag);
            let mut a;
            if side.is_control() {
                // Unsandboxed there is no pid 1 of ours: read a host process holding the secret.
                let victim = sleeper(fx, &[("SOME_SUPERVISOR_SECRET", &marker)])?;
                a = Attempt::new(&[victim.pid().to_string(), marker.clone()]);
                a.victims.push(victim);
            } else {
                a = Attempt::new(&["1".to_string(), marker.clone()]);
            }
            a.env.push(("SOME_SUPERVISOR_SECRET".into(), marker));
            Ok(a)
        },
    },
    super::Scenario {
        name: "vault",
        probe: None,
        area: Area::Secrets,
        threat: "read vault secrets not granted to this run",
        mechanism: "vault, env.secrets (planned)",
        pending: Some("no vault yet"),
        exclusive: false,
        prepare: plain!(),
    },
    // ---------------------------------------------------------------- resources
    super::Scenario {
        name: "fork-bomb",
        probe: Some("fork-bomb"),
        area: Area::Resources,
        threat: "fork bomb",
        mechanism: "limits.processes: pids cgroup (root) or RLIMIT_NPROC",
        pending: None,
        exclusive: true,
        prepare: |_, side| {
            let n = limit(side, side.limits().processes, "processes")? + 64;
            Ok(Attempt::new(&[n.to_string()]))
        },
    },
    super::Scenario {
        name: "memory-bomb",
        probe: Some("mem-bomb"),
        area: Area::Resources,
        threat: "exhaust memory",
        mechanism: "limits.memory: memory cgroup with OOM kill (root) or RLIMIT_DATA",
        pending: None,
        exclusive: true,
        prepare: |_, side| {
            let bytes = limit(side, side.limits().memory, "memory")? + 64 * MIB;
            let room = mem_available().unwrap_or(0) * 3 / 4;
            if bytes > room {
                return Err(Skip::Reason(format!(
                    "{} MiB is more than this host can spare for the attempt ({} MiB)",
                    bytes / MIB,
                    room / MIB
                )));
            }
            let mut a = Attempt::new(&[(bytes / MIB).to_string()]);
            a.forced_stops
                .push((137, "killed (SIGKILL) by the memory cgroup's OOM killer"));
            Ok(a)
        },
    },
    super::Scenario {
        name: "open-files",
        probe: Some("open-files"),
        area: Area::Resources,
        threat: "exhaust file descriptors (raising the soft limit first)",
        mechanism: "limits.open_files: RLIMIT_NOFILE, soft = hard",
        pending: None,
        exclusive: false,
        prepare: |_, side| {
            let n = limit(side, side.limits().open_files, "open_files")? + 16;
            if side.is_control() {
                let hard =
                    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                        .map(|(_, h)| h)
                        .unwrap_or(0);
                if hard < n + 16 {
                    return Err(Skip::Reason(format!(
                        "this host's descriptor limit ({hard}) is below {n}"
                    )));
                }
            }
            Ok(Attempt::new(&[n.to_string()]))
        },
    },
    super::Scenario {
        name: "file-size",
        probe: Some("sparse-file"),
        area: Area::Resources,
        threat: "one huge file (fill the disk)",
        mechanism: "limits.file_size: RLIMIT_FSIZE",
        pending: None,
        exclusive: false,
        prepare: |fx, side| {
            let bytes = limit(side, side.limits().file_size, "file_size")? + MIB;
            Ok(Attempt::new(&[
                bytes.to_string(),
                s(&fx.dir.ws.join("sparse")),
            ]))
        },
    },
    super::Scenario {
        name: "tmp-fill",
        probe: Some("file-size"),
        area: Area::Resources,
        threat: "fill /tmp",
        mechanism: "limits.tmp_size: the private /tmp is a tmpfs of that size",
        pending: None,
        exclusive: true,
        prepare: |fx, side| {
            let bytes = limit(side, side.limits().tmp_size, "tmp_size")? + 16 * MIB;
            let mib = (bytes / MIB).to_string();
            if side.is_control() {
                // Unsandboxed, the same write goes to the host's temporary directory.
                let room = disk_available(&fx.dir.root).unwrap_or(0) / 2;
                if bytes > room {
                    return Err(Skip::Reason(format!(
                        "{mib} MiB is more than this host's disk can spare"
                    )));
                }
                Ok(Attempt::new(&[mib, s(&fx.dir.root.join("fill"))]))
            } else {
                // A tmpfs lives in memory.
                let room = mem_available().unwrap_or(0) / 2;
                if bytes > room {
                    return Err(Skip::Reason(format!(
                        "{mib} MiB of tmpfs is more than this host can spare"
                    )));
                }
                Ok(Attempt::new(&[mib, "/tmp/missy-fill".to_string()]))
            }
        },
    },
];
