//! What real work needs: output, exit statuses, pipes, terminals, the environment, isolation
//! that shows (pid namespace, hostname).

use std::io::Write;
use std::process::Stdio;

use crate::harness::*;

fn run(user: User, ws: &Scratch, args: &[&str]) -> std::process::Output {
    exec_command(user, ws, "strict", &["--"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn hello_world_runs() {
    for user in USERS {
        let ws = Scratch::new(user);
        let out = run(user, &ws, &["sh", "-c", "echo hi"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hi\n",
            "as {user:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0));
    }
}

#[test]
fn exit_statuses_follow_the_shell_conventions() {
    for user in USERS {
        let ws = Scratch::new(user);
        assert_eq!(
            run(user, &ws, &["sh", "-c", "exit 3"]).status.code(),
            Some(3)
        );
        assert_eq!(
            run(user, &ws, &["sh", "-c", "kill -TERM $$"]).status.code(),
            Some(128 + 15)
        );
        let nf = run(user, &ws, &["no-such-command-xyz"]);
        assert_eq!(
            nf.status.code(),
            Some(127),
            "{}",
            String::from_utf8_lossy(&nf.stderr)
        );
        assert!(
            String::from_utf8_lossy(&nf.stderr).contains("exec"),
            "{}",
            String::from_utf8_lossy(&nf.stderr)
        );
        let noexec = ws.file("not-executable.sh", "#!/bin/sh\necho no\n", user);
        let ne = run(user, &ws, &[noexec.to_str().unwrap()]);
        assert_eq!(
            ne.status.code(),
            Some(126),
            "{}",
            String::from_utf8_lossy(&ne.stderr)
        );
    }
}

#[test]
fn pipes_pass_through_both_ways() {
    for user in USERS {
        let ws = Scratch::new(user);
        let mut child = exec_command(
            user,
            &ws,
            "strict",
            &["--", "sh", "-c", "tr a-z A-Z; echo err >&2"],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"piped data\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED DATA\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }
}

#[test]
fn a_terminal_on_stdin_stays_a_terminal() {
    for user in USERS {
        let ws = Scratch::new(user);
        let pty = nix::pty::openpty(None, None).unwrap();
        let status = exec_command(user, &ws, "strict", &["--", "sh", "-c", "test -t 0"])
            .stdin(pty.slave)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "as {user:?}");
    }
}

#[test]
fn the_sandbox_sees_only_its_own_processes_and_hostname() {
    for user in USERS {
        let ws = Scratch::new(user);
        let out = run(
            user,
            &ws,
            &["sh", "-c", "ls /proc | grep -c '^[0-9]'; hostname; id -u"],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        let count: u32 = lines[0].parse().unwrap();
        assert!(count <= 4, "as {user:?}: {count} processes visible: {text}");
        let host = nix::unistd::gethostname().unwrap();
        assert_ne!(
            lines[1],
            host.to_string_lossy(),
            "hostname must not be the host's"
        );
        assert_eq!(lines[2], "0", "root inside the user namespace");
    }
}

#[test]
fn the_environment_is_the_profiles() {
    for user in USERS {
        let ws = Scratch::new(user);
        let out = exec_command(user, &ws, "strict", &["--env", "EXTRA=1", "--", "env"])
            .env("UNLISTED_VARIABLE", "x")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("EXTRA=1"), "{text}");
        assert!(text.contains("LANG=C.UTF-8"), "{text}");
        assert!(text.contains("TMPDIR=/tmp"), "{text}");
        assert!(!text.contains("UNLISTED_VARIABLE"), "{text}");
    }
}

#[test]
fn tmp_is_private_and_writable() {
    for user in USERS {
        let ws = Scratch::new(user);
        let marker = format!("/tmp/missy-private-{}", std::process::id());
        let out = run(
            user,
            &ws,
            &["sh", "-c", &format!("echo x > {marker} && cat {marker}")],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "x\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !std::path::Path::new(&marker).exists(),
            "the sandbox's /tmp must not be the host's"
        );
    }
}

#[test]
fn programs_can_open_their_own_ptys() {
    for user in USERS {
        let ws = Scratch::new(user);
        let script = "import os\nm, s = os.openpty()\nos.write(s, b'hello\\n')\nprint(os.ttyname(s), os.read(m, 100))";
        let out = run(user, &ws, &["python3", "-c", script]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("/dev/pts/") && text.contains("hello"),
            "as {user:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `Cpus_allowed_list` of /proc/self/status, as printed by `grep` run by `command`.
fn cpus_allowed(mut command: std::process::Command) -> String {
    let out = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// pid 1 starts on a CPU apart from the supervisor's and takes back the inherited CPUs before
/// it forks the workload: the workload may run wherever its caller may.
#[test]
fn the_workload_may_run_on_every_cpu_its_caller_may() {
    if !two_cpus_or_skip() {
        return;
    }
    let grep = ["grep", "Cpus_allowed_list", "/proc/self/status"];
    for user in USERS {
        let ws = Scratch::new(user);
        let mut bare = user.command(std::path::Path::new("/bin/grep"));
        bare.args(&grep[1..]);
        let outside = cpus_allowed(bare);
        let mut sandboxed = exec_command(user, &ws, "strict", &["--"]);
        sandboxed.args(grep);
        let inside = cpus_allowed(sandboxed);
        assert_eq!(inside, outside, "as {user:?}");
    }
}
