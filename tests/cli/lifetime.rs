//! Nothing started in the sandbox outlives it: workload exit, wall-time kill, supervisor SIGKILL.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// True if `file` is still growing (a heartbeat writer is alive).
fn still_growing(file: &Path) -> bool {
    std::thread::sleep(Duration::from_millis(400));
    let a = size(file);
    std::thread::sleep(Duration::from_millis(600));
    size(file) > a
}

#[test]
fn a_daemonized_child_does_not_survive_the_sandbox() {
    for user in USERS {
        let ws = Scratch::new(user);
        let control = ws.path().join("control-heartbeat");
        let out = unsandboxed(user, &ws, &["daemonize", control.to_str().unwrap(), "3"]);
        assert!(out.is("SENT"), "{out:?}");
        assert!(
            still_growing(&control),
            "as {user:?}: the unsandboxed daemon must keep running"
        );
        let beat = ws.path().join("heartbeat");
        let inside = sandboxed(
            user,
            &ws,
            "strict",
            &["daemonize", beat.to_str().unwrap(), "30"],
        );
        assert!(inside.is("SENT"), "{inside:?}");
        assert!(
            !still_growing(&beat),
            "as {user:?}: a daemon outlived the sandbox"
        );
    }
}

#[test]
fn the_wall_time_limit_kills_the_whole_tree() {
    for user in USERS {
        let ws = Scratch::new(user);
        let beat = ws.path().join("beat");
        let script = format!(
            "(while :; do echo x >> '{}'; sleep 0.1; done) & sleep 30",
            beat.display()
        );
        let started = Instant::now();
        let status = exec_command(
            user,
            &ws,
            "strict",
            &["--timeout", "1s", "--", "sh", "-c", &script],
        )
        .stderr(Stdio::piped())
        .output()
        .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            status.status.code(),
            Some(124),
            "as {user:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(String::from_utf8_lossy(&status.stderr).contains("wall-time limit"));
        assert!(
            elapsed < Duration::from_secs(10),
            "as {user:?}: took {elapsed:?}"
        );
        assert!(size(&beat) > 0, "the background writer ran");
        assert!(
            !still_growing(&beat),
            "as {user:?}: a process outlived the timeout kill"
        );
        // Without the limit the same command would run to completion.
        let ok = exec_command(user, &ws, "strict", &["--", "sh", "-c", "sleep 1.5"])
            .status()
            .unwrap();
        assert_eq!(ok.code(), Some(0));
    }
}

#[test]
fn killing_the_supervisor_with_sigkill_ends_the_sandbox() {
    for user in USERS {
        let ws = Scratch::new(user);
        let beat = ws.path().join("beat");
        let script = format!(
            "(while :; do echo x >> '{}'; sleep 0.1; done) & while :; do sleep 1; done",
            beat.display()
        );
        let mut child = exec_command(user, &ws, "strict", &["--", "sh", "-c", &script])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while size(&beat) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(size(&beat) > 0, "as {user:?}: the sandbox never started");
        // setpriv execs the supervisor, so this pid is the supervisor's own.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = child.wait();
        assert!(
            !still_growing(&beat),
            "as {user:?}: the sandbox survived its supervisor"
        );
    }
}
