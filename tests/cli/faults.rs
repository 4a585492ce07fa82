//! Faults: the workload kills itself, exhausts its memory, fills its disk. Each time the
//! supervisor reports what happened, nothing of the sandbox is left, and the host is unaffected.
//!
//! The supervisor itself being SIGKILLed mid-run is `lifetime::killing_the_supervisor_…`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::host_state::{GRACE, processes_matching, run_cgroups};

/// A number no other process on the host passes to `sleep`: `sleep <token>` marks a process.
pub fn sleep_token() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "86400.{}{:04}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Poll until no process has any of `needles` in its command line; the survivors otherwise.
pub fn survivors(needles: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + GRACE;
    loop {
        let left: Vec<String> = processes_matching(needles)
            .into_iter()
            .map(|(p, cmd)| format!("{} ({}) {cmd:?}", p.pid, p.state))
            .collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug)]
struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    supervisor: i32,
}

/// Run `cmd` (a supervisor), killing it and failing if it has not ended within `limit`. Output
/// goes to files, so a process that wrongly survives the sandbox cannot block the reading.
fn run(mut cmd: Command, limit: Duration) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let supervisor = child.id() as i32;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the supervisor did not end within {limit:?}; stderr: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        status: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
        supervisor,
    }
}

/// A profile extending `strict` with `limits`, readable by `user`.
fn limits_profile(ws: &Scratch, user: User, limits: &str) -> String {
    let p = ws.file(
        "faults.toml",
        &format!("extends = \"strict\"\n[limits]\n{limits}\n"),
        user,
    );
    p.to_string_lossy().into_owned()
}

fn shell(user: User, ws: &Scratch, profile: &str, script: &str) -> Ran {
    run(
        exec_command(user, ws, profile, &["--", "/bin/sh", "-c", script]),
        Duration::from_secs(30),
    )
}

/// The same script without a sandbox, as `user`: the control showing the attempt can succeed.
fn unsandboxed_shell(user: User, ws: &Scratch, script: &str) -> Ran {
    let mut c = user.command(Path::new("/bin/sh"));
    c.args(["-c", script]).current_dir(ws.path());
    run(c, Duration::from_secs(30))
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

const MIB: u64 = 1 << 20;

#[test]
fn a_workload_that_sigkills_itself_is_reported_as_137() {
    for user in USERS {
        let ws = Scratch::new(user);
        let token = sleep_token();
        // A background child first (running, not just forked), then the workload kills itself.
        // Its name tells: before exec it is a fork of the shell, whose command line holds the
        // token as well.
        let script = format!(
            "sleep {token} >/dev/null 2>&1 &
             until read -r c 2>/dev/null </proc/$!/comm && [ \"$c\" = sleep ]; do :; done
             echo started; kill -KILL $$; echo survived"
        );
        let started = Instant::now();
        let r = shell(user, &ws, "strict", &script);
        eprintln!("self-SIGKILL as {user:?}: {:?}", started.elapsed());
        assert_eq!(r.status, Some(137), "as {user:?}: {r:?}");
        assert_eq!(r.stdout, "started\n", "as {user:?}: {r:?}");
        let wsp = ws.path().to_string_lossy().into_owned();
        let left = survivors(&[&token, &wsp]);
        assert!(
            left.is_empty(),
            "as {user:?}: the workload's child outlived it: {left:?}"
        );
        assert!(
            run_cgroups(|pid| pid == r.supervisor).is_empty(),
            "as {user:?}: the run's cgroup was not removed"
        );
    }
}

/// How this user's memory limit is enforced, as `check --json` reports the kernel's cgroups.
fn memory_by_cgroup(user: User) -> bool {
    let out = user
        .command(&sandbox_bin())
        .args(["check", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    !v["cgroups"]["memory"].is_null()
}

#[test]
fn memory_exhaustion_is_contained_and_the_host_is_unaffected() {
    for user in USERS {
        let ws = Scratch::new(user);
        let probe = ws.with_probe(user);
        let profile = limits_profile(&ws, user, "memory = \"64MiB\"");
        let mut bystander = HostProcess::sleep(user, &[]);
        let control = unsandboxed(user, &ws, &["mem-bomb", "256"]);
        assert!(
            control.is("ESCAPED"),
            "as {user:?}: 256 MiB must be allocatable unsandboxed: {control:?}"
        );

        let started = Instant::now();
        let r = run(
            exec_command(
                user,
                &ws,
                &profile,
                &["--", probe.to_str().unwrap(), "mem-bomb", "256"],
            ),
            Duration::from_secs(60),
        );
        eprintln!(
            "memory exhaustion as {user:?}: {:?}, {r:?}",
            started.elapsed()
        );
        assert!(
            !r.stdout.contains("ESCAPED"),
            "as {user:?}: allocated past the limit: {r:?}"
        );
        if memory_by_cgroup(user) {
            // The cgroup's OOM killer ends the workload; the supervisor reports SIGKILL.
            assert_eq!(r.status, Some(137), "as {user:?}: {r:?}");
        } else {
            // RLIMIT_DATA: the allocation fails and the probe says so.
            assert_eq!(r.status, Some(0), "as {user:?}: {r:?}");
            assert!(
                r.stdout.starts_with("BLOCKED mem-bomb") && r.stdout.contains("errno=ENOMEM"),
                "as {user:?}: {r:?}"
            );
            let allocated: u64 = r
                .stdout
                .split("allocated=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX);
            assert!(allocated <= 64, "as {user:?}: {r:?}");
        }

        // The host: a process outside is untouched, the run left nothing, and the next run works.
        assert!(bystander.alive(), "as {user:?}: a host process died");
        assert!(
            run_cgroups(|pid| pid == r.supervisor).is_empty(),
            "as {user:?}: the run's cgroup was not removed"
        );
        let left = survivors(&[&ws.path().to_string_lossy()]);
        assert!(left.is_empty(), "as {user:?}: left running: {left:?}");
        let next = shell(user, &ws, &profile, "echo fine");
        assert_eq!(
            (next.status, next.stdout.as_str()),
            (Some(0), "fine\n"),
            "as {user:?}: {next:?}"
        );
    }
}

#[test]
fn filling_the_private_tmp_fails_with_enospc() {
    for user in USERS {
        let ws = Scratch::new(user);
        let profile = limits_profile(&ws, user, "tmp_size = \"8MiB\"");
        // Control: the same amount is writable without the sandbox.
        let host_file = ws.path().join("fill");
        let control = unsandboxed_shell(
            user,
            &ws,
            &format!(
                "dd if=/dev/zero of='{}' bs=1M count=16",
                host_file.display()
            ),
        );
        assert_eq!(control.status, Some(0), "as {user:?}: {control:?}");
        assert_eq!(file_len(&host_file), 16 * MIB);
        std::fs::remove_file(&host_file).unwrap();

        let r = shell(
            user,
            &ws,
            &profile,
            "dd if=/dev/zero of=/tmp/f bs=1M count=100; s=$?; wc -c < /tmp/f; exit $s",
        );
        eprintln!("tmp fill as {user:?}: {r:?}");
        assert_ne!(r.status, Some(0), "as {user:?}: {r:?}");
        assert!(
            r.stderr.contains("No space left on device"),
            "as {user:?}: {r:?}"
        );
        let written: u64 = r.stdout.trim().parse().unwrap();
        assert!(
            written > 0 && written <= 8 * MIB,
            "as {user:?}: {written} bytes in an 8 MiB /tmp"
        );
        // Each run has a fresh /tmp: the full one is gone.
        let next = shell(
            user,
            &ws,
            &profile,
            "test ! -e /tmp/f && dd if=/dev/zero of=/tmp/g bs=1M count=4 2>/dev/null && echo fresh",
        );
        assert_eq!(
            (next.status, next.stdout.as_str()),
            (Some(0), "fresh\n"),
            "as {user:?}: {next:?}"
        );
    }
}

#[test]
fn the_file_size_limit_stops_a_growing_file() {
    for user in USERS {
        let ws = Scratch::new(user);
        let profile = limits_profile(&ws, user, "file_size = \"1MiB\"");
        let dd = |name: &str| {
            format!(
                "dd if=/dev/zero of='{}' bs=1M count=5",
                ws.path().join(name).display()
            )
        };
        let control = unsandboxed_shell(user, &ws, &dd("control"));
        assert_eq!(control.status, Some(0), "as {user:?}: {control:?}");
        assert_eq!(file_len(&ws.path().join("control")), 5 * MIB);

        // Default disposition: SIGXFSZ ends the writer (128 + 25).
        let killed = shell(user, &ws, &profile, &format!("exec {}", dd("killed")));
        assert_eq!(killed.status, Some(153), "as {user:?}: {killed:?}");
        let len = file_len(&ws.path().join("killed"));
        assert!(len <= MIB, "as {user:?}: the file grew to {len} bytes");

        // SIGXFSZ ignored: the write fails with EFBIG instead.
        let refused = shell(
            user,
            &ws,
            &profile,
            &format!("trap '' XFSZ; {}", dd("refused")),
        );
        assert_eq!(refused.status, Some(1), "as {user:?}: {refused:?}");
        assert!(
            refused.stderr.contains("File too large"),
            "as {user:?}: {refused:?}"
        );
        let len = file_len(&ws.path().join("refused"));
        assert!(len <= MIB, "as {user:?}: the file grew to {len} bytes");
    }
}
