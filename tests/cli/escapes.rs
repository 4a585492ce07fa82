//! Escape attempts from the `strict` profile (and `ci-strict` for the resource bounds).

use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::Duration;

use crate::harness::*;

#[test]
fn reading_a_file_outside_the_grants_is_denied() {
    for user in USERS {
        let outside = Scratch::new(user);
        let secret = outside.file("secret.txt", "top secret\n", user);
        let ws = Scratch::new(user);
        let path = secret.to_str().unwrap();
        let out = unsandboxed(user, &ws, &["read-file", path]);
        let inside = sandboxed(user, &ws, "strict", &["read-file", path]);
        assert_denied(user, "read outside", &out, &inside);
    }
}

#[test]
fn writing_outside_the_workspace_is_denied() {
    for user in USERS {
        let outside = Scratch::new(user);
        let ws = Scratch::new(user);
        let control = outside.path().join("control.txt");
        let target = outside.path().join("planted.txt");
        let out = unsandboxed(user, &ws, &["write-file", control.to_str().unwrap()]);
        let inside = sandboxed(
            user,
            &ws,
            "strict",
            &["write-file", target.to_str().unwrap()],
        );
        assert_denied(user, "write outside", &out, &inside);
        assert!(
            !target.exists(),
            "as {user:?}: the file must not appear on the host"
        );
        // Writing inside the workspace works, so the denial is about the place, not writing.
        let ok = sandboxed(
            user,
            &ws,
            "strict",
            &["write-file", ws.path().join("ok.txt").to_str().unwrap()],
        );
        assert!(
            ok.is("ESCAPED"),
            "as {user:?}: workspace write must work: {ok:?}"
        );
    }
}

#[test]
fn symlinks_and_hardlinks_planted_in_the_workspace_do_not_escape() {
    for user in USERS {
        let outside = Scratch::new(user);
        let secret = outside.file("secret.txt", "top secret\n", user);
        let s = secret.to_str().unwrap();
        let ws = Scratch::new(user);
        let link = |name: &str| ws.path().join(name).to_str().unwrap().to_string();
        let out = unsandboxed(user, &ws, &["symlink-escape", &link("s1"), s]);
        let inside = sandboxed(user, &ws, "strict", &["symlink-escape", &link("s2"), s]);
        assert_denied(user, "symlink escape", &out, &inside);
        let out = unsandboxed(user, &ws, &["hardlink-escape", &link("h1"), s]);
        let inside = sandboxed(user, &ws, "strict", &["hardlink-escape", &link("h2"), s]);
        assert_denied(user, "hardlink escape", &out, &inside);
    }
}

#[test]
fn another_processes_proc_entries_are_unreachable() {
    for user in USERS {
        let marker = format!("MISSY_MARKER_{}", std::process::id());
        let host = HostProcess::sleep(user, &[("MISSY_TEST_MARKER", &marker)]);
        let pid = host.pid().to_string();
        let ws = Scratch::new(user);
        let out = unsandboxed(user, &ws, &["proc-environ", &pid, &marker]);
        let inside = sandboxed(user, &ws, "strict", &["proc-environ", &pid, &marker]);
        assert_denied(user, "read /proc/<host pid>/environ", &out, &inside);
    }
}

#[test]
fn the_sandbox_init_does_not_leak_the_supervisors_environment() {
    // pid 1 inside the sandbox is forked from the supervisor and still holds its environment
    // block; the workload must not be able to read it.
    for user in USERS {
        let ws = Scratch::new(user);
        let probe = ws.with_probe(user);
        let marker = format!("MISSY_SUPERVISOR_SECRET_{}", std::process::id());
        let out = exec_command(user, &ws, "strict", &["--"])
            .arg(&probe)
            .args(["proc-environ", "1", &marker])
            .env("SOME_SUPERVISOR_SECRET", &marker)
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(line.starts_with("BLOCKED"), "as {user:?}: {line}");
    }
}

#[test]
fn host_loopback_tcp_is_unreachable() {
    for user in USERS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let ws = Scratch::new(user);
        let out = unsandboxed(user, &ws, &["tcp-connect", &addr]);
        assert!(
            listener.accept().is_ok(),
            "as {user:?}: the control connection must reach the host listener"
        );
        let inside = sandboxed(user, &ws, "strict", &["tcp-connect", &addr]);
        assert_denied(user, "tcp connect", &out, &inside);
        assert!(
            listener.accept().is_err(),
            "as {user:?}: the host listener saw a connection from the sandbox"
        );
    }
}

#[test]
fn host_loopback_udp_is_unreachable() {
    for user in USERS {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let ws = Scratch::new(user);
        let mut buf = [0u8; 64];
        let out = unsandboxed(user, &ws, &["udp-send", &addr, "control"]);
        assert!(out.is("SENT"), "{out:?}");
        assert!(
            sock.recv(&mut buf).is_ok(),
            "as {user:?}: the control datagram must arrive"
        );
        let inside = sandboxed(user, &ws, "strict", &["udp-send", &addr, "escape"]);
        assert!(inside.is("SENT") || inside.is("BLOCKED"), "{inside:?}");
        assert!(
            sock.recv(&mut buf).is_err(),
            "as {user:?}: a datagram from the sandbox reached the host"
        );
    }
}

#[test]
fn host_abstract_unix_sockets_are_unreachable() {
    for user in USERS {
        let name = format!("missy-test-{}-{}", std::process::id(), user.uid());
        let listener =
            UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        listener.set_nonblocking(true).unwrap();
        let ws = Scratch::new(user);
        let out = unsandboxed(user, &ws, &["abstract-connect", &name]);
        assert!(listener.accept().is_ok(), "control connection must arrive");
        let inside = sandboxed(user, &ws, "strict", &["abstract-connect", &name]);
        assert_denied(user, "abstract unix socket", &out, &inside);
        assert!(
            listener.accept().is_err(),
            "as {user:?}: the sandbox reached the host's abstract socket"
        );
    }
}

#[test]
fn dangerous_system_calls_are_denied() {
    for user in USERS {
        let ws = Scratch::new(user);
        let mnt = ws.path().join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        chown(&mnt, user);
        let m = mnt.to_str().unwrap();
        let cases: [(&str, Vec<&str>, Vec<&str>); 13] = [
            ("ptrace", vec!["ptrace-child"], vec!["ptrace-child"]),
            ("mount", vec!["mount", m, "--private-ns"], vec!["mount", m]),
            (
                "new user namespace",
                vec!["unshare-user"],
                vec!["unshare-user"],
            ),
            ("io_uring_setup", vec!["io-uring"], vec!["io-uring"]),
            (
                "clone(CLONE_NEWUSER)",
                vec!["clone-newuser"],
                vec!["clone-newuser"],
            ),
            ("clone3", vec!["clone3"], vec!["clone3"]),
            (
                "process_vm_readv",
                vec!["process-vm-readv"],
                vec!["process-vm-readv"],
            ),
            ("keyctl", vec!["keyctl"], vec!["keyctl"]),
            ("bpf", vec!["bpf"], vec!["bpf"]),
            (
                "perf_event_open",
                vec!["perf-event-open"],
                vec!["perf-event-open"],
            ),
            ("userfaultfd", vec!["userfaultfd"], vec!["userfaultfd"]),
            (
                "personality(ADDR_NO_RANDOMIZE)",
                vec!["personality"],
                vec!["personality"],
            ),
            (
                "netlink socket",
                vec!["netlink-route"],
                vec!["netlink-route"],
            ),
        ];
        for (what, outside_args, inside_args) in cases {
            let out = unsandboxed(user, &ws, &outside_args);
            let inside = sandboxed(user, &ws, "strict", &inside_args);
            assert_denied(user, what, &out, &inside);
        }
    }
}

#[test]
fn tiocsti_cannot_inject_into_the_terminal() {
    for user in USERS {
        let ws = Scratch::new(user);
        let run = |sandbox: bool| {
            let pty = nix::pty::openpty(None, None).unwrap();
            let slave: std::os::fd::OwnedFd = pty.slave;
            let probe = ws.with_probe(user);
            let mut cmd = if sandbox {
                let mut c = exec_command(user, &ws, "strict", &["--"]);
                c.arg(&probe);
                c
            } else {
                user.command(&probe)
            };
            cmd.args(["tiocsti", "0"]).stdin(slave);
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            stdout.split_whitespace().next().unwrap_or("").to_string()
        };
        // The pty is nobody's controlling terminal, so the probe can claim it: unsandboxed, the
        // injection must work for this user, or the test could not fail.
        let outside = run(false);
        let inside = run(true);
        assert_eq!(
            outside, "ESCAPED",
            "as {user:?}: TIOCSTI must work unsandboxed"
        );
        assert_eq!(inside, "BLOCKED", "as {user:?}: TIOCSTI must be blocked");
    }
}

#[test]
fn host_processes_cannot_be_signalled() {
    for user in USERS {
        let ws = Scratch::new(user);
        let mut victim = HostProcess::sleep(user, &[]);
        let pid = victim.pid().to_string();
        let inside = sandboxed(user, &ws, "strict", &["kill", &pid]);
        assert!(inside.is("BLOCKED"), "as {user:?}: {inside:?}");
        assert!(
            victim.alive(),
            "as {user:?}: the host process was killed from the sandbox"
        );
        let out = unsandboxed(user, &ws, &["kill", &pid]);
        assert!(out.is("ESCAPED"), "as {user:?}: control: {out:?}");
        // SIGKILL is delivered at once, but a loaded machine may take a while to end it.
        assert!(
            eventually(Duration::from_secs(5), || !victim.alive()),
            "as {user:?}: the control kill must work"
        );
    }
}

#[test]
fn inherited_fds_do_not_reach_the_sandbox() {
    for user in USERS {
        let ws = Scratch::new(user);
        let secret = ws.file("fd-secret.txt", "inherited secret\n", user);
        let probe = ws.with_probe(user);
        let script = |inner: String| format!("exec 7<'{}'; exec {inner}", secret.display());
        let sandbox = sandbox_bin();
        let run = |cmdline: String| {
            let out = user
                .command(std::path::Path::new("/bin/sh"))
                .arg("-c")
                .arg(script(cmdline))
                .current_dir(ws.path())
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        };
        let outside = run(format!("'{}' inherited-fd 7", probe.display()));
        let inside = run(format!(
            "'{}' exec --profile strict --workspace '{}' -- '{}' inherited-fd 7",
            sandbox.display(),
            ws.path().display(),
            probe.display()
        ));
        assert_eq!(outside, "ESCAPED", "as {user:?}");
        assert_eq!(inside, "BLOCKED", "as {user:?}");
    }
}

#[test]
fn secrets_in_the_environment_are_not_passed() {
    for user in USERS {
        let ws = Scratch::new(user);
        for name in ["GITHUB_TOKEN", "LC_API_TOKEN", "AWS_SECRET_ACCESS_KEY"] {
            let probe = ws.with_probe(user);
            let out = user
                .command(&probe)
                .args(["env", name])
                .env(name, "s3cr3t")
                .output()
                .unwrap();
            let outside = String::from_utf8_lossy(&out.stdout).to_string();
            let out = exec_command(user, &ws, "strict", &["--"])
                .arg(&probe)
                .args(["env", name])
                .env(name, "s3cr3t")
                .output()
                .unwrap();
            let inside = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(
                outside.starts_with("ESCAPED"),
                "as {user:?} {name}: {outside}"
            );
            assert!(
                inside.starts_with("BLOCKED"),
                "as {user:?} {name}: {inside}"
            );
        }
    }
}

#[test]
fn fork_bombs_stay_bounded() {
    for user in USERS {
        let ws = Scratch::new(user);
        let out = unsandboxed(user, &ws, &["fork-bomb", "300"]);
        let inside = sandboxed(user, &ws, "ci-strict", &["fork-bomb", "300"]);
        assert_denied(user, "fork bomb", &out, &inside);
    }
}

#[test]
fn memory_bombs_stay_bounded() {
    for user in USERS {
        let ws = Scratch::new(user);
        let out = unsandboxed(user, &ws, &["mem-bomb", "1024"]);
        let inside = sandboxed(user, &ws, "ci-strict", &["mem-bomb", "1024"]);
        assert!(out.is("ESCAPED"), "as {user:?}: control: {out:?}");
        // Either the allocation fails (rlimit) or the kernel's OOM killer ends it (cgroup).
        assert!(
            inside.is("BLOCKED") || inside.status == Some(137),
            "as {user:?}: {inside:?}"
        );
    }
}

#[test]
fn symlinked_reads_inside_the_workspace_still_work() {
    // The symlink denial above is about where the link points, not links as such.
    for user in USERS {
        let ws = Scratch::new(user);
        let target = ws.file("real.txt", "hello\n", user);
        let link = ws.path().join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let v = sandboxed(user, &ws, "strict", &["read-file", link.to_str().unwrap()]);
        assert!(v.is("ESCAPED"), "as {user:?}: {v:?}");
    }
}

#[test]
fn setuid_files_cannot_be_planted_in_the_workspace() {
    for user in USERS {
        let ws = Scratch::new(user);
        let control = ws.path().join("control-suid");
        let planted = ws.path().join("planted-suid");
        let out = unsandboxed(user, &ws, &["setuid-plant", control.to_str().unwrap()]);
        let inside = sandboxed(
            user,
            &ws,
            "strict",
            &["setuid-plant", planted.to_str().unwrap()],
        );
        assert_denied(user, "plant a setuid file", &out, &inside);
        if let Ok(meta) = std::fs::metadata(&planted) {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                meta.permissions().mode() & 0o6000,
                0,
                "as {user:?}: a setuid file appeared on the host"
            );
        }
    }
}
